"""A text answering a dose reminder reaches medications through ``conversations.inbound``:
"1" is "taken" there (not a journey's CONFIRM), STOP is still STOP."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.medications import adverse
from careloop.medications.reminders import send_due_reminders
from careloop.models import DoseConfirmation
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, deliver, make_patient, medication, text_back

ZONE = ZoneInfo("America/New_York")
MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=ZONE)


def test_keypad_answers_to_a_reminder_are_dose_answers(rt: Runtime, clock: FrozenClock) -> None:
    clock.set(MORNING - timedelta(hours=3))
    make_patient(rt, patient_id="p-in")
    add_resources(rt, "p-in", medication("MedicationRequest", "mr-in", when=clock.now()))
    clock.set(MORNING)
    with rt.transaction() as session:
        assert send_due_reminders(session, now=MORNING, clock=rt.clock, settings=rt.settings).queued
    sms = deliver(rt)
    assert "08:00 medicines" in sms.sent[0].message.body
    clock.set(MORNING + timedelta(minutes=4))
    assert text_back(rt, "1", 1) == "medication-taken"
    clock.set(MORNING + timedelta(hours=12, minutes=3))
    assert text_back(rt, "3 me da mareo", 2) == "medication-side-effect-ae"
    with rt.transaction() as session:
        answers = list(session.scalars(select(DoseConfirmation).order_by(DoseConfirmation.id)))
        cases = adverse.queue(session, now=rt.clock.now())
    assert [(a.answer, a.channel, a.local_minute) for a in answers] == [
        ("taken", "sms", 8 * 60 + 4),
        ("skipped", "sms", 20 * 60 + 3),
    ]
    assert len(cases) == 1
    assert text_back(rt, "STOP", 3) == "opted-out"
