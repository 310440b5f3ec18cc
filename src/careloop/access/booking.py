"""Hold a slot, book it, cancel it: one live booking per slot, whatever the concurrency.

A hold is a row of ``access_bookings`` whose ``active_slot`` names the slot; the unique
constraint on that column is the lock. Two replies racing for one slot on two workers both
try to insert it: on PostgreSQL the second insert waits for the first transaction and fails
when it commits, on SQLite the database lock serialises them; the loser gets
:class:`SlotTaken` (a :class:`Conflict`) and is offered something else. A hold expires after
``hold_minutes``; an expired hold is released by the next attempt on the slot. Booking turns
the hold into a booked Appointment in the record and marks the slot busy; cancelling frees
both.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.access.appointments import write_booking
from careloop.access.finder import Offer
from careloop.access.interpreters import book_interpreter
from careloop.access.offers import drop_visit_messages
from careloop.access.rides import withdraw_rides
from careloop.audit import AuditAction, Purpose
from careloop.changes import record_change
from careloop.clock import Clock
from careloop.db import one_or_missing, patient_rows
from careloop.errors import Conflict, NotFound
from careloop.events import EventKind
from careloop.models import AccessBooking, FhirResource
from careloop.security.principal import Principal

HOLD_MINUTES = 10
LIVE = ("held", "booked")


class SlotTaken(Conflict):
    """Someone else holds or booked the slot (or the EHR marked it busy)."""


def _release_expired(session: Session, *, slot_id: str, now: datetime) -> None:
    session.execute(
        update(AccessBooking)
        .where(
            AccessBooking.active_slot == slot_id,
            AccessBooking.state == "held",
            AccessBooking.held_until <= now,
        )
        .values(state="expired", active_slot=None, updated_at=now)
    )


def _slot_is_free(session: Session, slot_id: str) -> bool:
    status = session.scalar(
        select(FhirResource.status).where(
            FhirResource.resource_type == "Slot", FhirResource.fhir_id == slot_id
        )
    )
    if status is None:
        raise NotFound("no such slot")
    return status == "free"


def hold(
    session: Session,
    *,
    patient_id: str,
    offer: Offer,
    now: datetime,
    channel: str,
    offer_id: str | None = None,
    hold_minutes: int = HOLD_MINUTES,
) -> AccessBooking:
    """Hold ``offer``'s slot for the patient; raise :class:`SlotTaken` if it is not free."""
    _release_expired(session, slot_id=offer.slot, now=now)
    if not _slot_is_free(session, offer.slot):
        raise SlotTaken("that time is no longer free")
    booking = AccessBooking(
        id=str(uuid.uuid4()),
        patient_id=patient_id,
        slot_id=offer.slot,
        active_slot=offer.slot,
        offer_id=offer_id,
        state="held",
        mode=offer.mode,
        ride=offer.ride,
        channel=channel,
        start=offer.start,
        end=offer.end,
        held_until=now + timedelta(minutes=hold_minutes),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(booking)
            session.flush()
    except IntegrityError:
        raise SlotTaken("that time was just taken") from None
    return booking


def get_booking(session: Session, booking_id: str, *, for_update: bool = False) -> AccessBooking:
    query = select(AccessBooking).where(AccessBooking.id == booking_id)
    return one_or_missing(
        session, query.with_for_update() if for_update else query, "no such booking"
    )


def confirm(
    session: Session, *, booking: AccessBooking, clock: Clock, principal: Principal
) -> AccessBooking:
    """Turn a live hold into a booked Appointment; an expired hold is a :class:`SlotTaken`."""
    now = clock.now()
    if booking.state == "booked":
        return booking
    if booking.state != "held" or (booking.held_until is not None and booking.held_until <= now):
        raise SlotTaken("the hold on that time has expired")
    booking.state = "booked"
    booking.held_until = None
    booking.appointment_id = booking.id
    booking.updated_at = now
    session.flush()
    need = write_booking(session, booking, now=now)
    _record(session, booking, clock=clock, principal=principal, kind=EventKind.SLOT_BOOKED)
    if need is not None:
        book_interpreter(session, booking=booking, need=need, clock=clock)
    return booking


def book(
    session: Session,
    *,
    patient_id: str,
    offer: Offer,
    clock: Clock,
    principal: Principal,
    channel: str,
    offer_id: str | None = None,
) -> AccessBooking:
    """Hold and book at once (a reply to a text, a click on a signed link)."""
    held = hold(
        session,
        patient_id=patient_id,
        offer=offer,
        now=clock.now(),
        channel=channel,
        offer_id=offer_id,
    )
    return confirm(session, booking=held, clock=clock, principal=principal)


def cancel(
    session: Session, *, booking: AccessBooking, clock: Clock, principal: Principal
) -> AccessBooking:
    """Cancel a hold or a booking: the slot is free again (and can be back-filled), what is
    still queued about the visit is dropped and its ride withdrawn (every path: portal,
    reply, move)."""
    now = clock.now()
    if booking.state not in LIVE:
        return booking
    was_booked = booking.state == "booked"
    booking.state = "cancelled"
    booking.active_slot = None
    booking.updated_at = now
    session.flush()
    if was_booked:
        write_booking(session, booking, now=now)
    drop_visit_messages(session, booking_id=booking.id, now=now)
    withdraw_rides(session, booking_id=booking.id, clock=clock)
    _record(session, booking, clock=clock, principal=principal, kind=EventKind.BOOKING_CANCELLED)
    return booking


def live_bookings(session: Session, *, patient_id: str) -> list[AccessBooking]:
    """The patient's holds and bookings, soonest first."""
    live = AccessBooking.state.in_(LIVE)
    return patient_rows(session, AccessBooking, patient_id, AccessBooking.start, where=[live])


def _record(
    session: Session,
    booking: AccessBooking,
    *,
    clock: Clock,
    principal: Principal,
    kind: EventKind,
) -> None:
    payload = {"slot": booking.slot_id, "mode": booking.mode, "ride": booking.ride}
    record_change(
        session,
        clock=clock,
        principal=principal,
        event=kind,
        subject=("booking", booking.id),
        resource="appointment",
        purpose=Purpose.TREATMENT,
        patient_id=booking.patient_id,
        payload={**payload, "channel": booking.channel, "offer": booking.offer_id},
        detail={"booking": booking.id, "state": booking.state},
        action=AuditAction.CREATE if kind is EventKind.SLOT_BOOKED else AuditAction.UPDATE,
    )
