"""``careloop demo`` step 12 (issue 15, walk4): the demo has a patient who prefers email and a
Spanish speaker reached by voice, each with a flu-shot reminder queued on that channel in
their language, so ``careloop worker`` shows both channels; nothing of theirs is printed."""

from __future__ import annotations

import io

from rich.console import Console
from sqlalchemy import select

from careloop.cli.demo_channels import EMAIL_PATIENT, VOICE_PATIENT, step_channels
from careloop.cli.demo_run import DemoReport
from careloop.models import OutboxMessage
from careloop.runtime import Runtime
from tests.outreach.conftest import sync_content


def test_the_demo_queues_an_email_and_a_spanish_call(rt: Runtime) -> None:
    sync_content(rt)
    printed = io.StringIO()
    report = DemoReport(database="test")

    step_channels(rt, Console(file=printed, width=200), report)

    with rt.transaction() as session:
        rows = {
            row.patient_id: (row.channel, row.language, row.to_address, row.html is not None)
            for row in session.scalars(select(OutboxMessage))
        }
    assert rows == {
        EMAIL_PATIENT: ("email", "en", "grace.park@example.org", True),
        VOICE_PATIENT: ("voice", "es", "+16175550163", False),
    }
    shown = printed.getvalue()
    assert f"{EMAIL_PATIENT} (prefers email): email in en" in shown
    assert f"{VOICE_PATIENT} (prefers voice): voice in es" in shown
    assert "example.org" not in shown
    assert "555-01" not in shown
