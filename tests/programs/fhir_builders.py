"""Small FHIR resource builders for measure tests written from the specification text."""

from __future__ import annotations

from typing import Any

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"

OFFICE_VISIT = (CPT, "99213")
ESSENTIAL_HYPERTENSION = (SCT, "59621000")
DIABETES = (SCT, "44054006")
HBA1C = (LOINC, "4548-4")
PAP_TEST = (LOINC, "10524-7")
HPV_TEST = (LOINC, "30167-1")
HYSTERECTOMY = (SCT, "116140006")
DIALYSIS = (SCT, "108241001")
MAMMOGRAM = (LOINC, "24606-6")


def concept(code: tuple[str, str]) -> dict[str, Any]:
    return {"coding": [{"system": code[0], "code": code[1]}]}


def patient(*, pid: str = "p1", birth: str, gender: str = "female") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": gender, "birthDate": birth}


def encounter(
    *, day: str, code: tuple[str, str] = OFFICE_VISIT, eid: str = "e1", klass: str = "AMB"
) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": eid,
        "status": "finished",
        "class": {"code": klass},
        "type": [concept(code)],
        "subject": {"reference": "Patient/p1"},
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"},
    }


def condition(*, code: tuple[str, str], onset: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": "active"}]},
        "code": concept(code),
        "subject": {"reference": "Patient/p1"},
        "onsetDateTime": f"{onset}T00:00:00Z",
    }


def lab(*, code: tuple[str, str], day: str, percent: float | None = None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory"}]}],
        "code": concept(code),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": f"{day}T10:00:00Z",
    }
    if percent is not None:
        resource["valueQuantity"] = {"value": percent, "unit": "%", "code": "%"}
    else:
        resource["valueCodeableConcept"] = concept((SCT, "260385009"))  # negative
    return resource


def blood_pressure(
    *, day: str, systolic: float, diastolic: float, encounter_id: str | None = "e1"
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs"}]}],
        "code": concept((LOINC, "85354-9")),
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": f"{day}T10:00:00Z",
        "component": [
            {
                "code": concept((LOINC, "8480-6")),
                "valueQuantity": {"value": systolic, "unit": "mm[Hg]"},
            },
            {
                "code": concept((LOINC, "8462-4")),
                "valueQuantity": {"value": diastolic, "unit": "mm[Hg]"},
            },
        ],
    }
    if encounter_id:
        resource["encounter"] = {"reference": f"Encounter/{encounter_id}"}
    return resource


def procedure(*, code: tuple[str, str], day: str) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "status": "completed",
        "code": concept(code),
        "subject": {"reference": "Patient/p1"},
        "performedDateTime": f"{day}T10:00:00Z",
    }


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A collection Bundle; clinical resources point at the bundle's Patient."""
    pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    for index, resource in enumerate(resources):
        resource.setdefault("id", f"{pid}-{index}")
        if "subject" in resource:
            resource["subject"] = {"reference": f"Patient/{pid}"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
