"""The wife who drove can no longer come: what was queued to her about the visit (the booking's
notice, the journey's reminder copy) is cancelled with a reason staff can read, and the
worker, run up to the visit, sends her nothing; the re-check's outcome still applies (a task
for the coordinators). Before, "Reminder: Pat has a visit on Thursday at 5:00 PM" still went
to someone who had told us she could not come. Both databases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.access import companions
from careloop.access.escorts import EscortCheck, recheck_escorts
from careloop.clock import FrozenClock
from careloop.models import AccessBooking, Enrollment, OutboxMessage, WorklistItem
from careloop.records import caregivers
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import caregiver, slot
from tests.access.test_reminders import PHONE, WIFE_PHONE, _book, _seed, _utc


def _change_availability(rt: Runtime, clock: FrozenClock) -> list[EscortCheck]:
    """What ``careloop caregivers set-availability cg-101 --window 'sat-sun 10:00-12:00'``
    does, on the test's clock: the change, then the patient's visits re-checked at once."""
    with rt.transaction() as session:
        caregivers.set_availability(
            session, caregiver_id="cg-101", windows=["sat-sun 10:00-12:00"], now=clock.now()
        )
        return recheck_escorts(session, clock=clock, settings=rt.settings, patient_id="p-001")


def _to_the_wife(rt: Runtime) -> list[tuple[str, str, str | None]]:
    with rt.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.to_address == WIFE_PHONE)
            .order_by(OutboxMessage.id)
        ).all()
        return [(r.content_message or "", r.state, r.dead_reason) for r in rows]


def test_no_reminder_reaches_the_wife_once_she_can_no_longer_drive(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit = _seed(
        rt,
        clock,
        tmp_path,
        caregiver("p-001", "cg-101"),  # weekdays 15:30-20:00: she drives him
        slot("s-thu", schedule_id="sch-1", start=_utc(5, 22)),  # Thu 5:00 PM in New York
    )
    booked = _book(rt, clock, "s-thu")
    with rt.transaction() as session:
        booking = session.get(AccessBooking, booked.id)
        assert booking is not None
        companions.tell_companions(
            session, booking=booking, message=companions.BOOKED, clock=clock, settings=rt.settings
        )
    visit.tick()  # the journey enrols the visit
    first_step = visit.next_step_at()
    assert first_step is not None
    clock.set(first_step)
    visit.tick()  # and queues its first reminder, and her copy
    queued = _to_the_wife(rt)
    assert [(m, s) for m, s, _ in queued] == [
        ("caregiver_visit_booked", "queued"),
        ("caregiver_visit_reminder", "queued"),
    ]
    clock.advance(timedelta(minutes=10))

    checks = _change_availability(rt, clock)
    visit.run_journey(until=_utc(5, 21))

    assert visit.received(WIFE_PHONE) == []
    assert checks == [EscortCheck(booked.id, "task", cancelled=2)]
    assert _to_the_wife(rt) == [
        ("caregiver_visit_booked", "dead", "no-longer-escorting"),
        ("caregiver_visit_reminder", "dead", "no-longer-escorting"),
    ]
    assert [m for m, _ in visit.received(PHONE)] == [
        "appointment_reminder_3d",
        "appointment_reminder_1d",
    ]
    with rt.transaction() as session:
        [task] = session.scalars(
            select(WorklistItem).where(WorklistItem.rule_id == f"access-escort:{booked.id}")
        ).all()
        [fields] = session.scalars(
            select(Enrollment.fields).where(Enrollment.episode == f"Appointment/{booked.id}")
        ).all()
    assert "2 message(s) still queued to them were cancelled" in task.findings[0]["summary"]
    assert fields["escorts"] == []
