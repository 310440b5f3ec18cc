"""``careloop demo`` shows reminders that adapt (issue 17, item 6): a no-show model it trains,
an early offer of other times to the booking it scores high risk, and a video visit's
reminder with the link to join (both DBs)."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from careloop.cli.demo_adapt import NOSHOW_CSV, RISKY, VIDEO, step_adapt
from careloop.cli.demo_run import DemoReport
from careloop.models import AccessBooking
from careloop.runtime import Runtime
from tests.outreach.conftest import sync_content

pytestmark = pytest.mark.skipif(not NOSHOW_CSV.is_file(), reason="shared no-show data absent")


def test_the_demo_offers_the_high_risk_booking_new_times_and_sends_the_video_link(
    rt: Runtime, api_client: Any
) -> None:
    sync_content(rt)
    printed = io.StringIO()
    report = DemoReport(database="test")

    step_adapt(rt, Console(file=printed, width=200), report)

    adapt = report.sections["adapt"]
    assert adapt["model"]["rows"] > 5000
    assert adapt["model"]["test_auc"] > 0.65  # measured on its own held-out week
    assert adapt["risk"] == {RISKY: "high", VIDEO: "low"}
    early = adapt["messages"]["reschedule_offer"]
    assert early["patient"] == RISKY
    assert "1 for" in early["text"].lower()
    video = adapt["messages"]["appointment_reminder_video"]
    assert video["patient"] == VIDEO
    with rt.transaction() as session:
        booked = session.scalars(
            select(AccessBooking).where(AccessBooking.patient_id == VIDEO)
        ).one()
        assert booked.mode == "telehealth"
        risky = session.scalars(select(AccessBooking).where(AccessBooking.patient_id == RISKY))
        assert [b.state for b in risky] == ["booked"]  # nothing moves unless Maria answers
    assert f"/portal/video/{booked.id}" in video["text"]
    # The link opens Lee's visit page under ``careloop serve`` (the default address's path).
    link = re.search(r"http://127\.0\.0\.1:8000(/portal/video/\S+)", video["text"])
    assert link is not None
    page = api_client("patient", patient_id=VIDEO).get(link.group(1))
    assert page.status_code == 200, page.text
    assert "Your care team will start the call" in page.text

    shown = printed.getvalue()
    assert "Reminders that adapt" in shown
    assert "reschedule_offer" in shown
    assert "appointment_reminder_video" in shown
    assert "high (" in shown
    assert "test week AUC" in shown
