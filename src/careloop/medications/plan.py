"""The medication plan from the record: which medicines are active, at which daily slots.

Pure over FHIR resources. A medicine is identified by its RxNorm code (else its first code).
The newest MedicationRequest of a medicine decides whether it is active (``active``; a
``stopped``, ``completed``, ``cancelled`` or ``entered-in-error`` request stops it), then a
MedicationStatement (``active``/``intended``), then a completed MedicationDispense that carries
its own ``dosageInstruction`` (a pharmacy record without a prescription in our record).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from careloop.fhirdata.codings import codings
from careloop.fhirdata.dates import instant
from careloop.medications.timing import SlotSpec, dosage_slots

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
_ACTIVE = {
    "MedicationRequest": {"active"},
    "MedicationStatement": {"active", "intended"},
    "MedicationDispense": {"completed"},
}
_STOPPED = {"stopped", "completed", "cancelled", "entered-in-error", "not-taken", "revoked"}
_DATE_FIELDS = {
    "MedicationRequest": ("authoredOn",),
    "MedicationStatement": ("dateAsserted", "effectiveDateTime"),
    "MedicationDispense": ("whenHandedOver", "whenPrepared"),
}
_PRIORITY = {"MedicationRequest": 0, "MedicationStatement": 1, "MedicationDispense": 2}


@dataclass(frozen=True, slots=True)
class PlannedMedication:
    """One medicine of the plan: its key, name, daily slots, and the resource behind it."""

    key: str
    name: str
    slots: tuple[SlotSpec, ...]
    timing: str
    source: str
    active: bool


def medication_key(resource: Mapping[str, Any]) -> tuple[str, str] | None:
    """(code, display name) of the resource's medicine; RxNorm preferred."""
    concept = resource.get("medicationCodeableConcept")
    pairs = list(codings(concept))
    if not pairs:
        return None
    code = next((c for system, c in pairs if system == RXNORM), pairs[0][1])
    display = None
    if isinstance(concept, Mapping):
        display = concept.get("text")
        for coding in concept.get("coding") or []:
            display = display or coding.get("display")
    return code, str(display or code)[:200]


def _when(resource: Mapping[str, Any]) -> datetime | None:
    for name in _DATE_FIELDS.get(str(resource.get("resourceType")), ()):
        moment = instant(resource.get(name))
        if moment is not None:
            return moment
    period = resource.get("effectivePeriod")
    return instant(period.get("start")) if isinstance(period, Mapping) else None


def _dosages(resource: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    raw = resource.get("dosageInstruction") or resource.get("dosage") or []
    return [d for d in raw if isinstance(d, Mapping)]


def plan_from_resources(resources: Iterable[Mapping[str, Any]]) -> list[PlannedMedication]:
    """The plan: per medicine, the deciding resource (see the module docstring)."""
    chosen: dict[str, tuple[tuple[int, float], Mapping[str, Any], str]] = {}
    for resource in resources:
        kind = str(resource.get("resourceType"))
        if kind not in _PRIORITY:
            continue
        if kind == "MedicationDispense" and not _dosages(resource):
            continue
        found = medication_key(resource)
        if found is None:
            continue
        moment = _when(resource)
        # Newest first within the most authoritative type.
        rank = (_PRIORITY[kind], -(moment.timestamp() if moment else 0.0))
        if found[0] not in chosen or rank < chosen[found[0]][0]:
            chosen[found[0]] = (rank, resource, found[1])
    plan = []
    for key, (_, resource, name) in sorted(chosen.items()):
        kind = str(resource.get("resourceType"))
        status = str(resource.get("status"))
        slots = dosage_slots(_dosages(resource))
        if slots is None:
            continue
        active = status in _ACTIVE[kind] and status not in _STOPPED
        plan.append(
            PlannedMedication(
                key=key,
                name=name,
                slots=tuple(slots[0]),
                timing=slots[1],
                source=f"{kind}/{resource.get('id')}",
                active=active,
            )
        )
    return plan
