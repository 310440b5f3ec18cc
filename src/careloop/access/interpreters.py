"""Book an interpreter with a visit: a coordinator task on the worklist.

Called by ``booking.confirm``, the one step every way of booking goes through (a reply to a
text, the portal, a signed link), so no route forgets it. The Appointment itself carries the
note (``appointments.note_interpreter``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.clock import Clock
from careloop.feedback.ruleset import Severity
from careloop.models import AccessBooking
from careloop.records.interpreter import InterpreterNeed
from careloop.records.service import get_patient

ACTOR = "system:access"


def visit_time(start: datetime, zone: str) -> str:
    """The visit's local date and time, as a coordinator books it ("2026-12-08 09:30")."""
    return start.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def book_interpreter(
    session: Session, *, booking: AccessBooking, need: InterpreterNeed, clock: Clock
) -> None:
    """A task "book a <language> interpreter for <date>", due before the visit."""
    when = visit_time(booking.start, get_patient(session, booking.patient_id).timezone)
    create_task(
        session,
        patient_id=booking.patient_id,
        rule_id=f"access-interpreter:{booking.id}",
        title=f"Book a {need.language_name} interpreter for {when}",
        summary=f"The record says an interpreter is needed ({need.language_name}); the "
        f"{booking.mode} visit at {when} is booked without one yet.",
        severity=Severity.ROUTINE,
        clock=clock,
        actor=ACTOR,
        team="care-coordination",
        values={"booking": booking.id, "language": need.language},
        due_by=booking.start,
    )
