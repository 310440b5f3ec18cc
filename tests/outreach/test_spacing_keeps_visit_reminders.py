"""The gap must not drop an appointment reminder. Another program has a text queued
for the morning of the visit; the 1-day reminder, decided for a time within 4 hours of it,
is held by the gap and retried ``blocked_retry_hours`` (24) later: at the visit, when its
anchor has passed and it is skipped. The patient gets no reminder the day before."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select
from tests.outreach.conftest import APPOINTMENTS, Loop, make_patient, program

from careloop.models import OutboxMessage
from careloop.outreach.config import BudgetSettings, OutreachSettings
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.outbox import NewMessage, enqueue_many


def test_an_appointment_reminder_held_by_the_gap_still_goes_before_the_visit(
    rt, make_loop: Callable[..., Loop]
) -> None:
    pid = f"gapa-{uuid.uuid4().hex[:8]}"
    phone = "+15550100093"
    make_patient(rt, patient_id=pid, phone=phone, timezone="UTC")
    appointment = rt.clock.now() + timedelta(days=2)
    loop = make_loop([program(APPOINTMENTS, actions={"channels": ["sms"]})], {})
    own = OutreachSettings(budget=BudgetSettings(per_day=100, per_week=100, min_gap_hours=4))
    loop.ctx = replace(
        loop.ctx,
        eligibility=ExplicitEligibility(
            {
                "appointments-test": [
                    Candidate(
                        pid,
                        f"Appointment/{pid}",
                        anchors={"appointment": appointment},
                        fields={
                            "appointment_at": appointment.isoformat(),
                            "appointment_place": "Clinic",
                        },
                    )
                ]
            }
        ),
        settings=own,
    )
    loop.worker.settings = own
    with rt.transaction() as session:  # another program's text, the morning of the visit
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"other:{pid}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phone,
                    body="Another program's text.",
                    program="screening",
                    due_at=appointment - timedelta(hours=5),
                )
            ],
            now=loop.clock.now(),
        )
    while loop.clock.now() < appointment:
        loop.advance(timedelta(hours=1))
        loop.tick()
        loop.work()

    with rt.transaction() as session:
        reminders = session.execute(
            select(OutboxMessage.state, OutboxMessage.sent_at).where(
                OutboxMessage.patient_id == pid,
                OutboxMessage.program == "appointments-test",
                OutboxMessage.step == "remind-1d",
            )
        ).all()
    sent = [s for _state, s in reminders if s is not None]
    assert sent, reminders
    assert min(sent).replace(tzinfo=None) < appointment.replace(tzinfo=None)
