"""Quiet hours re-checked at dispatch for a whole chunk at once: each patient answered in
their own zone and with their own quiet hours, whoever shares them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tests.outreach.conftest import make_patient

from careloop.clock import FrozenClock
from careloop.outreach.claims import Claimed
from careloop.outreach.quiet_hours import quiet_now
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime


def _claimed(message_id: int, patient_id: str, **changes: Any) -> Claimed:
    fields: dict[str, Any] = {
        "id": message_id,
        "attempt": 0,
        "max_attempts": 3,
        "idempotency_key": f"k{message_id}",
        "patient_id": patient_id,
        "purpose": "care-reminders",
        "channel": "sms",
        "sender": None,
        "to_address": "+15550100001",
        "subject": None,
        "body": "Hello",
        "html": None,
        "language": "en",
        "extra": {},
        "enrollment_id": None,
        "program": None,
        "step": None,
        "decision_id": None,
        "recipient_kind": "patient",
    }
    return Claimed(**(fields | changes))


def test_a_chunk_is_held_per_patient_zone_and_quiet_hours(rt: Runtime, clock: FrozenClock) -> None:
    # 23:30 in New York (EDT), 20:30 in Los Angeles (PDT).
    now = datetime(2026, 3, 10, 3, 30, tzinfo=UTC)
    make_patient(rt, patient_id="ny-1")
    make_patient(rt, patient_id="ny-2")
    make_patient(rt, patient_id="la-1", timezone="America/Los_Angeles")
    make_patient(rt, patient_id="ny-awake")
    make_patient(rt, patient_id="ny-early")
    with rt.transaction() as session:
        for patient_id, quiet in (("ny-awake", "00-00"), ("ny-early", "23-06")):
            set_stated_preferences(
                session,
                clock=clock,
                patient_id=patient_id,
                changes={"quiet_hours": quiet},
                actor="t",
            )
    messages = [
        _claimed(1, "ny-1"),
        _claimed(2, "ny-1"),
        _claimed(3, "ny-2"),
        _claimed(4, "la-1"),
        _claimed(5, "ny-awake"),
        _claimed(6, "ny-early"),
        _claimed(7, "nobody"),  # no record: no zone to check against
        _claimed(8, "ny-1", recipient_kind="caregiver"),
        _claimed(9, "ny-2", extra={"transactional": True}),
    ]
    with rt.transaction() as session:
        held = quiet_now(session, messages=messages, now=now)
    eight_am = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)  # 08:00 EDT
    six_am = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 06:00 EDT
    assert held == {1: eight_am, 2: eight_am, 3: eight_am, 6: six_am}
