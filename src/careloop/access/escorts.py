"""A visit whose caregiver can no longer come: re-checked when the caregiver's record changes.

A visit booked while the caregiver drove on that weekday (the Appointment names them as its
``ESC`` participant, no ride) stayed booked with no way there once their availability changed,
and nobody was told. Every way of changing a caregiver (``careloop records caregivers
set-availability``, the API's ``PUT .../availability``, a re-import of the RelatedPerson)
stamps ``caregivers.updated_at``; a live in-person visit without a ride whose booking is older
than that stamp is re-checked by the finder's own rule (``finder.rank_offers`` on its slot):

- someone still comes along → the Appointment is rewritten with whoever does;
- the patient needs transport and the pickup is still ahead → a ride is planned (the ride
  flow: ``plan_ride``, the ``ride-dispatch`` job requests it) and the patient gets
  ``ride_booked`` through the outbox (consent, quiet hours, budget apply);
- otherwise → a coordinator task (``access-escort:<booking>``) naming the visit's time and
  the reason; the Appointment no longer names the caregiver, so no reminder goes to them.

Whichever it is, what was queued to a caregiver who no longer comes (the booking's notice, the
journey's reminder copies) is cancelled with the reason ``no-longer-escorting`` and the visit's
journey follows the rewritten Appointment (``outreach.escort_copies``): "please bring Rosa on
Tuesday" never reaches someone who told us she cannot. The booking's ``updated_at`` is then
the time of the check, so one change is handled once.
Run by the ``ride-dispatch`` job before it requests rides, and at once by the CLI and API
paths that set availability.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.access.appointments import write_booking
from careloop.access.companions import BOOKED, accompanying_caregivers
from careloop.access.finder import SlotCandidate, rank_offers
from careloop.access.interpreters import visit_time
from careloop.access.patientday import patient_day
from careloop.access.rides import TRAVEL_BUFFER, plan_ride
from careloop.access.sending import send_ride_booked
from careloop.careteam.alerts import create_task
from careloop.clock import Clock
from careloop.feedback.ruleset import Severity
from careloop.fhirdata.visits import visit_facts
from careloop.models import AccessBooking, Caregiver
from careloop.outreach.escort_copies import follow_rewritten_visit
from careloop.records.resources import get_resource
from careloop.records.service import get_patient
from careloop.settings import Settings

ACTOR = "system:access"
Outcome = Literal["still-accompanied", "ride-planned", "task"]


@dataclass(frozen=True, slots=True)
class EscortCheck:
    """What the re-check did about one visit."""

    booking: str
    outcome: Outcome
    cancelled: int = 0
    """Messages still queued to the caregiver who no longer comes, cancelled."""

    def as_json(self) -> dict[str, str | int]:
        return {"booking": self.booking, "outcome": self.outcome, "cancelled": self.cancelled}


def _to_recheck(session: Session, *, now: datetime, patient_id: str | None) -> list[AccessBooking]:
    """Live in-person visits without a ride, ahead, whose patient's caregiver record changed
    after the booking was last written or checked."""
    changed = select(Caregiver.patient_id).where(
        Caregiver.patient_id == AccessBooking.patient_id,
        Caregiver.updated_at > AccessBooking.updated_at,
    )
    query = (
        select(AccessBooking)
        .where(
            AccessBooking.state == "booked",
            AccessBooking.mode == "in-person",
            AccessBooking.ride.is_(False),
            AccessBooking.start > now,
            changed.exists(),
        )
        .order_by(AccessBooking.start, AccessBooking.id)
    )
    if patient_id is not None:
        query = query.where(AccessBooking.patient_id == patient_id)
    return list(session.scalars(query))


def _escorts(session: Session, booking: AccessBooking) -> tuple[str, ...]:
    """The caregivers the visit's Appointment names as coming along."""
    appointment = get_resource(session, resource_type="Appointment", fhir_id=booking.id)
    return (visit_facts(appointment).escorts or ()) if appointment else ()


def _rewrite(
    session: Session, booking: AccessBooking, *, escorts: tuple[str, ...], now: datetime
) -> int:
    """Write the booking's Appointment again and let its messages follow: the number of
    messages to the caregivers it no longer names that were cancelled."""
    write_booking(session, booking, now=now)
    appointment = get_resource(session, resource_type="Appointment", fhir_id=booking.id)
    assert appointment is not None  # just written
    return follow_rewritten_visit(
        session,
        appointment=appointment,
        patient_id=booking.patient_id,
        notice_keys=[f"{BOOKED}:{booking.id}:cg:{caregiver}" for caregiver in escorts],
        now=now,
    )


def _recheck(
    session: Session, booking: AccessBooking, *, clock: Clock, settings: Settings
) -> EscortCheck | None:
    now = clock.now()
    escorts = _escorts(session, booking)
    booking.updated_at = now
    if not escorts or set(escorts) & set(accompanying_caregivers(session, booking=booking)):
        return None  # nobody was relied on, or they still come
    day = patient_day(session, patient_id=booking.patient_id, now=now)
    slot = SlotCandidate(slot_id=booking.slot_id, start=booking.start, end=booking.end)
    fits = rank_offers([slot], day, now=now, limit=1, min_lead=timedelta(0))
    if fits and not fits[0].ride:
        # another caregiver comes: name them
        cancelled = _rewrite(session, booking, escorts=escorts, now=now)
        return EscortCheck(booking.id, "still-accompanied", cancelled)
    if fits and booking.start - TRAVEL_BUFFER > now:
        booking.ride = True
        session.flush()
        cancelled = _rewrite(session, booking, escorts=escorts, now=now)
        ride = plan_ride(session, booking=booking, now=now)
        send_ride_booked(
            session, booking=booking, pickup_at=ride.pickup_at, clock=clock, settings=settings
        )
        return EscortCheck(booking.id, "ride-planned", cancelled)
    # the caregiver is not expected: no reminder, and none still queued goes
    cancelled = _rewrite(session, booking, escorts=escorts, now=now)
    when = visit_time(booking.start, get_patient(session, booking.patient_id).timezone)
    if fits:
        reason = "it is too late to send a ride"
    elif not day.transport_need:
        reason = "the record does not say the patient needs transport, so no ride was planned"
    else:
        reason = "the visit no longer fits what the record says of the patient's day"
    create_task(
        session,
        patient_id=booking.patient_id,
        rule_id=f"access-escort:{booking.id}",
        title=f"Visit {when}: the caregiver who was to come along no longer can",
        summary=f"The caregiver named on the in-person visit at {when} is no longer free then "
        f"(their availability changed); {reason}. Arrange a way there or move the visit."
        + (f" {cancelled} message(s) still queued to them were cancelled." if cancelled else ""),
        severity=Severity.HIGH,
        clock=clock,
        actor=ACTOR,
        team="care-coordination",
        values={"booking": booking.id, "caregivers": list(escorts), "cancelled": cancelled},
        due_by=booking.start,
    )
    return EscortCheck(booking.id, "task", cancelled)


def recheck_escorts(
    session: Session, *, clock: Clock, settings: Settings, patient_id: str | None = None
) -> list[EscortCheck]:
    """Re-check the visits that relied on a caregiver whose record changed since (only
    ``patient_id``'s when given); what was done about each visit that changed."""
    done = []
    for booking in _to_recheck(session, now=clock.now(), patient_id=patient_id):
        check = _recheck(session, booking, clock=clock, settings=settings)
        if check is not None:
            done.append(check)
    session.flush()
    return done
