"""Small FHIR patients for program and segment tests, imported into a test database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

SCT = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def concept(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


def patient(
    pid: str, *, birth: str, gender: str = "female", language: str = "en-US", **extra: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": gender,
        "birthDate": birth,
        "communication": [{"language": concept("urn:ietf:bcp:47", language), "preferred": True}],
        **extra,
    }


def mammogram(day: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": concept(LOINC, "24606-6"),
        "effectiveDateTime": f"{day}T10:00:00Z",
    }


def flu_shot(day: str) -> dict[str, Any]:
    return {
        "resourceType": "Immunization",
        "status": "completed",
        "vaccineCode": concept(CVX, "140"),
        "occurrenceDateTime": f"{day}T10:00:00Z",
    }


def condition(system: str, code: str, *, onset: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": concept(CLINICAL, "active"),
        "code": concept(system, code),
        "onsetDateTime": f"{onset}T00:00:00Z",
    }


def hba1c(day: str, percent: float) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": concept(LOINC, "4548-4"),
        "effectiveDateTime": f"{day}T10:00:00Z",
        "valueQuantity": {"value": percent, "unit": "%", "code": "%"},
    }


def appointment(day: str, *, status: str = "noshow") -> dict[str, Any]:
    return {"resourceType": "Appointment", "status": status, "start": f"{day}T09:00:00Z"}


def caregiver() -> dict[str, Any]:
    return {"resourceType": "RelatedPerson", "active": True}


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A collection Bundle whose clinical resources point at its Patient."""
    pid = resources[0]["id"]
    for index, resource in enumerate(resources[1:], start=1):
        resource.setdefault("id", f"{pid}-{index}")
        if resource["resourceType"] in ("Immunization", "RelatedPerson"):
            resource["patient"] = {"reference": f"Patient/{pid}"}
        elif resource["resourceType"] == "Appointment":
            resource["participant"] = [
                {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}
            ]
        else:
            resource["subject"] = {"reference": f"Patient/{pid}"}
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def import_patients(rt: Runtime, folder: Path, patients: list[list[dict[str, Any]]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for resources in patients:
        (folder / f"{resources[0]['id']}.json").write_bytes(orjson.dumps(bundle(resources)))
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[folder],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert not summary.rejected, summary.rejected
