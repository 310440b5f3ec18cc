"""Every message has a home: a clinical text or call carries only "you have a new message",
and the full message is in the portal inbox, stored before the notice is sent."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, make_patient, program

from careloop.models import OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime


def _rows(rt: Runtime) -> list[OutboxMessage]:
    with rt.transaction() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("channel", ["sms", "voice"])
def test_withheld_clinical_message_is_in_the_portal_before_the_notice(
    rt: Runtime, make_loop: Callable[..., Loop], channel: str
) -> None:
    pid = f"pw-{channel}"
    make_patient(rt, patient_id=pid, phone="+15550100041")
    loop = make_loop(
        [program(SCREENING, actions={"channels": [channel]})],
        {"screening-test": [Candidate(pid, "2026")]},
    )
    report = loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()

    copy, notice = _rows(rt)
    assert report.queued == 1  # one decision, one notice: the copy is not a second send
    assert (copy.channel, notice.channel) == ("portal", channel)
    assert copy.extra["withheld_from"] == channel
    assert copy.id < notice.id  # claimed first ...
    assert copy.due_at == notice.due_at  # ... at the same moment
    assert "message" in notice.body.lower()  # the notice variants word it differently
    assert "portal" in notice.body  # a link by SMS, spoken words by voice
    assert "mammogra" not in notice.body.lower()
    assert "mammogra" in copy.body.lower()  # "mammogram" or "mammography", by variant
    assert "mammogra" in (copy.subject or "").lower()
    assert (copy.state, notice.state) == ("sent", "sent")
    assert copy.sent_at is not None
    assert notice.sent_at is not None
    assert copy.sent_at <= notice.sent_at
    assert [s.item.body for s in loop.inbox.items_for(pid)] == [copy.body]
    assert copy.decision_id is None
    assert notice.decision_id is not None


def test_general_message_and_email_get_no_copy(rt: Runtime, make_loop: Callable[..., Loop]) -> None:
    make_patient(rt, patient_id="pw-email", phone=None, email="rosa@example.org")
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["email"]})],
        {"screening-test": [Candidate("pw-email", "2026")]},
    )
    loop.tick()
    rows = _rows(rt)
    assert [r.channel for r in rows] == ["email"]
    assert "withheld_from" not in (rows[0].extra or {})


@pytest.mark.parametrize("message", ["home_bp_prompt", "glucose_log_prompt"])
def test_reading_reminders_link_to_the_readings_page(
    rt: Runtime, make_loop: Callable[..., Loop], message: str
) -> None:
    pid = f"pr-{message[:4]}"
    make_patient(rt, patient_id=pid, phone="+15550100042")
    doc = {
        **SCREENING,
        "name": "readings-test",
        "completion": {"confirm": True},
        "steps": [{"id": "prompt", "message": message, "wait": {"after": "enrollment"}}],
    }
    loop = make_loop(
        [program(doc, actions={"channels": ["sms"]})],
        {"readings-test": [Candidate(pid, "2026")]},
    )
    loop.tick()
    copy = next(r for r in _rows(rt) if r.channel == "portal")
    assert "/portal/readings" in copy.body
    assert "/checkin" not in copy.body
