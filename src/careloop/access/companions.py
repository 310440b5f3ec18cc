"""Tell the caregiver who comes along: a booking's confirmation, cancellation or move.

A caregiver *accompanies* a visit when the patient's finder rules would have them come: an
in-person visit without a ride, inside the caregiver's availability window, and their
RelatedPerson not marked ``accompanies: false``. They get a short copy (the patient's first
name, the day and time, the clinic's number; no service, place or diagnosis) through
``outreach.caregiver_notices``, so the person who drives knows the time has changed.
"""

from __future__ import annotations

from collections.abc import Collection
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from careloop.access.finder import inside_windows
from careloop.access.patientday import accompanies
from careloop.clock import Clock
from careloop.models import AccessBooking
from careloop.outreach.caregiver_notices import queue_caregiver_notice
from careloop.records.caregivers import caregivers_of
from careloop.records.resources import get_resource
from careloop.records.service import get_patient
from careloop.settings import Settings

BOOKED = "caregiver_visit_booked"
CANCELLED = "caregiver_visit_cancelled"
MOVING = "caregiver_visit_moving"


def accompanying_caregivers(session: Session, *, booking: AccessBooking) -> list[str]:
    """Ids of the caregivers who come along to this visit (none for video or a ride)."""
    if booking.mode != "in-person" or booking.ride:
        return []
    zone = ZoneInfo(get_patient(session, booking.patient_id).timezone)
    start, end = booking.start.astimezone(zone), booking.end.astimezone(zone)
    return [
        carer.id
        for carer in caregivers_of(session, patient_id=booking.patient_id)
        if carer.availability
        and inside_windows(carer.availability, start, end)
        and accompanies(get_resource(session, resource_type="RelatedPerson", fhir_id=carer.id))
    ]


def tell_companions(
    session: Session,
    *,
    booking: AccessBooking,
    message: str,
    clock: Clock,
    settings: Settings,
    skip: Collection[str] = (),
) -> list[int]:
    """Queue ``message`` (:data:`BOOKED`, :data:`CANCELLED`, :data:`MOVING`) to each caregiver
    who accompanies the visit, but those in ``skip``; the outbox ids queued."""
    queued = []
    for caregiver_id in accompanying_caregivers(session, booking=booking):
        if caregiver_id in skip:
            continue
        outbox_id = queue_caregiver_notice(
            session,
            settings=settings,
            patient_id=booking.patient_id,
            caregiver_id=caregiver_id,
            message=message,
            key=f"{message}:{booking.id}",
            now=clock.now(),
            fields={"appointment_at": booking.start},
        )
        if outbox_id is not None:
            queued.append(outbox_id)
    return queued
