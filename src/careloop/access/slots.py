"""Free slots from the record, and the rule that makes a slot a telehealth visit.

Schedules, slots, locations, services and practitioner roles arrive through ``careloop import``
like any FHIR resource (re-importing the EHR's export keeps them current: same id, update).
A slot is **telehealth** when any of these says so, checked in this order:

1. the slot or its Schedule carries the extension :data:`VIRTUAL_EXTENSION` with
   ``valueBoolean: true`` (an explicit flag, the EHR-neutral way);
2. the slot's ``appointmentType`` or ``serviceType`` has the code ``VR`` (HL7 v3 ActCode
   "virtual") or ``telehealth``;
3. the Schedule's actor is a ``Location`` whose ``physicalType`` is ``vi`` (virtual).

A slot is offered only while its status is ``free`` in the record and no live hold or booking
in ``access_bookings`` names it; ``busy``, ``busy-unavailable`` and ``busy-tentative`` never
are.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.access.finder import SlotCandidate
from careloop.fhirdata import dates
from careloop.fhirdata.codings import codes
from careloop.fhirdata.references import typed_target_id
from careloop.fhirdata.visits import VIRTUAL_EXTENSION
from careloop.models import AccessBooking, FhirResource
from careloop.records.resources import resources_by_id

_VIRTUAL_CODES = frozenset({"VR", "telehealth"})


def _flagged(resource: dict[str, Any] | None) -> bool:
    return any(
        isinstance(e, dict) and e.get("url") == VIRTUAL_EXTENSION and e.get("valueBoolean") is True
        for e in (resource or {}).get("extension") or []
    )


def _schedule_services(schedule: dict[str, Any], services: dict[str, dict[str, Any]]) -> set[str]:
    found = codes(schedule.get("serviceType")) | codes(schedule.get("specialty"))
    for actor in schedule.get("actor") or []:
        service = services.get(typed_target_id(actor, "HealthcareService") or "")
        if service:
            found |= codes(service.get("type")) | codes(service.get("specialty"))
    return found


def _virtual_location(schedule: dict[str, Any], locations: dict[str, dict[str, Any]]) -> bool:
    for actor in schedule.get("actor") or []:
        location = locations.get(typed_target_id(actor, "Location") or "")
        if location and "vi" in codes(location.get("physicalType")):
            return True
    return False


def free_slots(
    session: Session,
    *,
    start: datetime,
    end: datetime,
    service: str | None = None,
    services: frozenset[str] | None = None,
) -> list[SlotCandidate]:
    """Free, unheld slots starting in ``[start, end)``; ``service`` filters by any code,
    ``services`` by sharing any of these codes (what a booked visit was for)."""
    slot_rows = list(
        session.scalars(
            select(FhirResource.resource)
            .where(
                FhirResource.resource_type == "Slot",
                FhirResource.status == "free",
                FhirResource.effective_start >= start,
                FhirResource.effective_start < end,
            )
            .order_by(FhirResource.effective_start, FhirResource.fhir_id)
        )
    )
    taken = set(
        session.scalars(
            select(AccessBooking.active_slot).where(
                AccessBooking.active_slot.in_([s["id"] for s in slot_rows])
            )
        )
    )
    schedules = resources_by_id(
        session, "Schedule", (typed_target_id(s.get("schedule"), "Schedule") for s in slot_rows)
    )
    actors = [a for sch in schedules.values() for a in sch.get("actor") or []]
    service_rows = resources_by_id(
        session, "HealthcareService", (typed_target_id(a, "HealthcareService") for a in actors)
    )
    locations = resources_by_id(
        session, "Location", (typed_target_id(a, "Location") for a in actors)
    )
    found = []
    for slot in slot_rows:
        if slot["id"] in taken:
            continue
        schedule = schedules.get(typed_target_id(slot.get("schedule"), "Schedule") or "", {})
        slot_codes = codes(slot.get("serviceType")) | codes(slot.get("appointmentType"))
        slot_codes |= codes(slot.get("specialty")) | codes(slot.get("serviceCategory"))
        all_codes = slot_codes | _schedule_services(schedule, service_rows)
        if service is not None and service not in all_codes:
            continue
        if services is not None and not services & all_codes:
            continue
        virtual = (
            _flagged(slot)
            or _flagged(schedule)
            or bool(slot_codes & _VIRTUAL_CODES)
            or _virtual_location(schedule, locations)
        )
        found.append(
            SlotCandidate(
                slot_id=slot["id"],
                start=dates.start(slot["start"]),
                end=dates.start(slot["end"]),
                telehealth=virtual,
                services=frozenset(all_codes),
            )
        )
    return found


def slot_services(session: Session, slot_id: str) -> frozenset[str]:
    """What a slot is for: the slot's own service and appointment type codes, else its
    Schedule's services. A visit is moved only to a slot for the same thing (a follow-up is
    never moved into a mammography slot)."""
    slot = resources_by_id(session, "Slot", [slot_id]).get(slot_id)
    if slot is None:
        return frozenset()
    own = codes(slot.get("serviceType")) | codes(slot.get("appointmentType"))
    if own:
        return frozenset(own)
    schedule_id = typed_target_id(slot.get("schedule"), "Schedule")
    schedule = resources_by_id(session, "Schedule", [schedule_id]).get(schedule_id or "", {})
    actors = schedule.get("actor") or []
    services = resources_by_id(
        session, "HealthcareService", (typed_target_id(a, "HealthcareService") for a in actors)
    )
    return frozenset(_schedule_services(schedule, services))
