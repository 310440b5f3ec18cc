"""A visit the EHR changed: an import that moves or cancels a booking's Appointment is followed
at once, not at the next ``ride-dispatch`` run.

A booking's Appointment has the booking's id, so the EHR's next export of it lands on the same
record (``records.store`` keeps whose write it was: ``source``). An Appointment last written by
someone else whose status is cancelled, or whose start is no longer the booking's, is followed:

- cancelled (or entered in error) → the booking is cancelled as every other path cancels it
  (``booking.cancel``: the slot freed, what is queued about the visit dropped, its ride
  withdrawn);
- moved → the booking takes the new times; a ride is withdrawn and planned again for the new
  pickup (or, too late for one, withdrawn and a coordinator task raised); the Appointment is
  written again with who comes along at the new time, and the visit's journey follows it
  (``outreach.escort_copies``: its reminders say the new pickup, and a caregiver who no
  longer comes gets no copy).

:func:`follow_imports` also re-checks the visits whose caregiver a re-import changed
(``access.escorts``). ``careloop import`` calls it right after the import and then runs the
ride job once, so the provider hears of the new or cancelled ride at once; the ``ride-dispatch``
job calls it too, for imports made by other paths.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from careloop.access import booking as bookings
from careloop.access.appointments import SOURCE, write_booking
from careloop.access.escorts import EscortCheck, recheck_escorts
from careloop.access.interpreters import visit_time
from careloop.access.offers import drop_visit_messages
from careloop.access.rides import TRAVEL_BUFFER, plan_ride, withdraw_rides
from careloop.careteam.alerts import create_task
from careloop.clock import Clock, ensure_utc
from careloop.feedback.ruleset import Severity
from careloop.fhirdata.dates import zoned
from careloop.models import AccessBooking, FhirResource
from careloop.outreach.escort_copies import follow_rewritten_visit
from careloop.records.service import get_patient
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import Settings

ACTOR = "system:access"
EHR_CHANGE = Principal(actor=ACTOR, role=Role.CLINICIAN, source="import")
CANCELLED = ("cancelled", "entered-in-error")
Followed = Literal["cancelled", "moved", "ride-replanned", "task"]


@dataclass(frozen=True, slots=True)
class VisitFollow:
    """What was done about one booking whose Appointment the EHR changed."""

    booking: str
    outcome: Followed

    def as_json(self) -> dict[str, str]:
        return {"booking": self.booking, "outcome": self.outcome}


def _changed_by_the_ehr(
    session: Session, *, now: datetime, patient_ids: Collection[str] | None
) -> list[tuple[AccessBooking, FhirResource]]:
    """Live bookings ahead whose Appointment someone else last wrote, now cancelled or at
    another start."""
    query = (
        select(AccessBooking, FhirResource)
        .join(
            FhirResource,
            (FhirResource.resource_type == "Appointment")
            & (FhirResource.fhir_id == AccessBooking.id),
        )
        .where(
            AccessBooking.state == "booked",
            AccessBooking.start > now,
            or_(FhirResource.source.is_(None), FhirResource.source != SOURCE),
            or_(
                FhirResource.status.in_(CANCELLED),
                FhirResource.effective_start != AccessBooking.start,
            ),
        )
        .order_by(AccessBooking.start, AccessBooking.id)
    )
    if patient_ids is not None:
        query = query.where(AccessBooking.patient_id.in_(sorted(patient_ids)))
    return [(b, r) for b, r in session.execute(query).tuples()]


def _move(
    session: Session, booking: AccessBooking, *, start: datetime, end: datetime, clock: Clock
) -> Followed:
    now = clock.now()
    booking.start, booking.end, booking.updated_at = start, end, now
    outcome: Followed = "moved"
    # Everything still queued about the visit names the old time (its confirmation, the
    # caregiver's notice, the journey's reminders, the ride's pickup): none of it goes.
    drop_visit_messages(session, booking_id=booking.id, now=now)
    if booking.ride:
        withdraw_rides(session, booking_id=booking.id, clock=clock)
        if start - TRAVEL_BUFFER > now:
            plan_ride(session, booking=booking, now=now)
            outcome = "ride-replanned"
        else:
            outcome = "task"
            when = visit_time(start, get_patient(session, booking.patient_id).timezone)
            create_task(
                session,
                patient_id=booking.patient_id,
                rule_id=f"access-ride-moved:{booking.id}",
                title=f"Visit {when}: moved by the EHR too late for a ride",
                summary="The EHR moved the visit so soon that no ride can be requested in "
                "time. Arrange a way there or move the visit.",
                severity=Severity.HIGH,
                clock=clock,
                actor=ACTOR,
                team="care-coordination",
                values={"booking": booking.id},
                due_by=start,
            )
    session.flush()
    write_booking(session, booking, now=now)
    appointment = session.get(FhirResource, ("Appointment", booking.id))
    assert appointment is not None  # just written
    follow_rewritten_visit(
        session, appointment=appointment.resource, patient_id=booking.patient_id, now=now
    )
    return outcome


def follow_imported_visits(
    session: Session, *, clock: Clock, patient_ids: Collection[str] | None = None
) -> list[VisitFollow]:
    """Follow every booking (of ``patient_ids`` when given) whose Appointment the EHR
    cancelled or moved; what was done about each."""
    done = []
    for booking, row in _changed_by_the_ehr(session, now=clock.now(), patient_ids=patient_ids):
        if row.status in CANCELLED:
            bookings.cancel(session, booking=booking, clock=clock, principal=EHR_CHANGE)
            done.append(VisitFollow(booking.id, "cancelled"))
            continue
        start = zoned(row.resource.get("start"))
        end = zoned(row.resource.get("end"))
        if start is None or end is None or end <= start:
            continue  # an Appointment without usable times is not a move
        moved = _move(session, booking, start=ensure_utc(start), end=ensure_utc(end), clock=clock)
        done.append(VisitFollow(booking.id, moved))
    session.flush()
    return done


def follow_imports(
    session: Session,
    *,
    clock: Clock,
    settings: Settings,
    patient_ids: Collection[str] | None = None,
) -> tuple[list[VisitFollow], list[EscortCheck]]:
    """After an import: the visits the EHR moved or cancelled, then the visits whose caregiver
    it changed."""
    followed = follow_imported_visits(session, clock=clock, patient_ids=patient_ids)
    checked = recheck_escorts(session, clock=clock, settings=settings)
    return followed, checked
