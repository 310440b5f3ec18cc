"""A dose confirmation posted as FHIR ``MedicationAdministration`` (a dispensing cabinet, a
smart pill box, a nurse's eMAR), stored in the record and counted as "taken".

The contract (issue #23): status ``completed``, ``effectiveDateTime``, ``subject``, and
``medicationCodeableConcept`` or a ``request`` reference to a MedicationRequest in the record.
The caller is staff or a device's system token (the router checks); the confirmation then
teaches the reminder time exactly like an SMS "1".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import InvalidInput
from careloop.fhirdata.dates import instant
from careloop.fhirdata.references import target_id
from careloop.medications.plan import medication_key
from careloop.medications.service import confirm
from careloop.records.resources import get_resource, store_resources
from careloop.security.principal import Principal


@dataclass(frozen=True, slots=True)
class Administration:
    resource: dict[str, Any]
    patient_id: str
    confirmations: int


def _medication(session: Session, resource: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The medicine's key, and the resource with ``medicationCodeableConcept`` filled in from
    the referenced request when it came with only ``request`` (R4 requires medication[x])."""
    found = medication_key(resource)
    if found is not None:
        return found[0], resource
    request = resource.get("request")
    request_id = target_id(request) if isinstance(request, dict) else None
    if request_id is None:
        raise InvalidInput(
            "medicationCodeableConcept or request is required", field="medicationCodeableConcept"
        )
    prescribed = get_resource(session, resource_type="MedicationRequest", fhir_id=request_id)
    found = medication_key(prescribed) if prescribed is not None else None
    if found is None or prescribed is None:
        raise InvalidInput("request: no such MedicationRequest with a code", field="request")
    return found[0], {
        **resource,
        "medicationCodeableConcept": prescribed["medicationCodeableConcept"],
    }


def receive_administration(
    session: Session, resource: dict[str, Any], *, clock: Clock, principal: Principal
) -> Administration:
    """Validate, store (audited), and record the dose as taken; 4xx names the field."""
    if resource.get("status") != "completed":
        raise InvalidInput("status: only completed administrations confirm a dose", field="status")
    at = instant(resource.get("effectiveDateTime"))
    if at is None or at.tzinfo is None:
        raise InvalidInput(
            "effectiveDateTime with a UTC offset is required", field="effectiveDateTime"
        )
    subject = resource.get("subject")
    if not isinstance(subject, dict) or not isinstance(subject.get("reference"), str):
        raise InvalidInput("subject: a Patient reference is required", field="subject")
    key, resource = _medication(session, resource)
    resource = {**resource, "id": resource.get("id") or f"ma-{uuid.uuid4().hex}"}
    (patient_id,) = store_resources(
        session, [resource], clock=clock, principal=principal, source="fhir"
    )
    rows = confirm(
        session,
        patient_id=patient_id,
        answer="taken",
        at=at,
        channel="fhir",
        actor=principal.actor,
        now=clock.now(),
        medication_key=key,
        source=f"MedicationAdministration/{resource['id']}"[:200],
    )
    return Administration(resource, patient_id, len(rows))
