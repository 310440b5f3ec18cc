"""What a booking writes into the record: a FHIR ``Appointment`` and the ``Slot``'s new status.

Both go through ``records.store.write_resources``, the one writer of ``fhir_resources``, so the
FHIR server serves the booked Appointment (``GET /fhir/Appointment?patient=...``) and the slot
finder sees the slot busy at once, before the EHR's next export says so. The Appointment's id
is the booking's id, so re-writing it (cancel, reschedule) updates the same resource.

The Appointment also carries what the appointment journey's reminders need, in FHIR terms so
that outreach reads it from the record (it never imports access): the caregiver who comes
along as a ``RelatedPerson`` participant of type ``ESC`` (escort), the ride's pickup time
(``fhirdata.visits``: appointment start − ``rides.TRAVEL_BUFFER``) beside the ride
flag, and the virtual flag for a video visit.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.access.companions import accompanying_caregivers
from careloop.access.rides import TRAVEL_BUFFER
from careloop.errors import NotFound
from careloop.fhirdata.references import reference_id, reference_of
from careloop.fhirdata.visits import (
    RIDE_EXTENSION,
    RIDE_PICKUP_EXTENSION,
    VIRTUAL_EXTENSION,
    escort_participant,
)
from careloop.models import AccessBooking
from careloop.records.extract import index_resource
from careloop.records.interpreter import InterpreterNeed, interpreter_for
from careloop.records.resources import get_resource
from careloop.records.store import write_resources

SOURCE = "careloop:access"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"


def interpreter_participant(need: InterpreterNeed) -> dict[str, Any]:
    """An interpreter (v3 ``INTP``) still to be booked: no actor until staff book one."""
    return {
        "type": [
            {
                "coding": [{"system": PARTICIPATION, "code": "INTP", "display": "interpreter"}],
                "text": f"{need.language_name} interpreter",
            }
        ],
        "required": "required",
        "status": "needs-action",
    }


def note_interpreter(resource: dict[str, Any], need: InterpreterNeed) -> None:
    """The visible note: an ``INTP`` participant and the Appointment's ``comment``."""
    resource["participant"].append(interpreter_participant(need))
    resource["comment"] = f"Interpreter needed: {need.language_name} ({need.language})"


def _slot(session: Session, slot_id: str) -> dict[str, Any]:
    slot = get_resource(session, resource_type="Slot", fhir_id=slot_id)
    if slot is None:
        raise NotFound("no such slot")
    return slot


def appointment_resource(booking: AccessBooking, slot: dict[str, Any]) -> dict[str, Any]:
    """The Appointment for a booking, in the FHIR R4 shape the importer validates."""
    status = {"booked": "booked", "cancelled": "cancelled"}.get(booking.state, "pending")
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": booking.id,
        "status": status,
        "start": booking.start.isoformat(),
        "end": booking.end.isoformat(),
        "slot": [{"reference": f"Slot/{slot['id']}"}],
        "created": booking.created_at.date().isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{booking.patient_id}"}, "status": "accepted"}
        ],
        "extension": [
            {"url": VIRTUAL_EXTENSION, "valueBoolean": booking.mode == "telehealth"},
            {"url": RIDE_EXTENSION, "valueBoolean": booking.ride},
        ],
    }
    if booking.ride:
        pickup = (booking.start - TRAVEL_BUFFER).isoformat()
        resource["extension"].append({"url": RIDE_PICKUP_EXTENSION, "valueDateTime": pickup})
    for name in ("serviceType", "specialty", "appointmentType"):
        if slot.get(name):
            resource[name] = slot[name]
    if slot.get("schedule"):
        schedule_ref = slot["schedule"].get("reference")
        if schedule_ref:
            resource["supportingInformation"] = [{"reference": schedule_ref}]
    return resource


def _location(session: Session, slot: dict[str, Any]) -> dict[str, Any] | None:
    """The Location participant (reference and name) of the slot's Schedule, if it has one."""
    schedule_ref = reference_of(slot.get("schedule")) or ""
    schedule = get_resource(
        session, resource_type="Schedule", fhir_id=schedule_ref.removeprefix("Schedule/")
    )
    for actor in (schedule or {}).get("actor") or []:
        ref = reference_of(actor)
        if ref and ref.startswith("Location/"):
            location = get_resource(session, resource_type="Location", fhir_id=reference_id(ref))
            name = (location or {}).get("name")
            return {"reference": ref, **({"display": name} if name else {})}
    return None


def write_booking(
    session: Session, booking: AccessBooking, *, now: datetime
) -> InterpreterNeed | None:
    """Write the booking's Appointment and set its Slot busy (booked) or free (cancelled).

    The Appointment names the Schedule's Location (with its name), so the appointment
    journey's reminders say where to go, and, for a patient whose record says an
    interpreter is needed, carries that note (returned, so the caller books one).
    """
    slot = dict(_slot(session, booking.slot_id))
    slot["status"] = "busy" if booking.state == "booked" else "free"
    resource = appointment_resource(booking, slot)
    place = _location(session, slot)
    if place is not None and booking.mode == "in-person":
        resource["participant"].append({"actor": place, "status": "accepted"})
    if booking.state == "booked":
        for caregiver_id in accompanying_caregivers(session, booking=booking):
            resource["participant"].append(escort_participant(caregiver_id))
    need = interpreter_for(session, patient_id=booking.patient_id)
    if need is not None:
        note_interpreter(resource, need)
    appointment = index_resource(resource)
    write_resources(
        session,
        [appointment, index_resource(slot)],
        [booking.patient_id, None],
        source=SOURCE,
        now=now,
    )
    return need
