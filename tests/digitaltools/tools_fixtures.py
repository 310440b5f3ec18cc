"""Patients with a phone and consent, the message library, and readings a tool sends back."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from careloop.careteam.intake import receive_observation
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.governance.consent import record_consent
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR, SYSTEM_WORKER

LOINC = "http://loinc.org"


def import_patients(rt: Runtime, folder: Path, resources: list[list[dict[str, Any]]]) -> None:
    """Each list is one patient's resources (Patient first), imported as a collection Bundle."""
    folder.mkdir(parents=True, exist_ok=True)
    for group in resources:
        pid = group[0]["id"]
        for index, resource in enumerate(group[1:], start=1):
            resource.setdefault("id", f"{pid}-{index}")
            resource.setdefault("subject", {"reference": f"Patient/{pid}"})
        bundle = {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": r} for r in group],
        }
        (folder / f"{pid}.json").write_bytes(orjson.dumps(bundle))
    summary = import_paths(
        rt.sessions, engine=rt.engine, paths=[folder], clock=rt.clock, principal=CLI_OPERATOR,
        default_timezone="America/New_York", workers=0,
    )  # fmt: skip
    assert not summary.rejected, summary.rejected


def reachable_patient(pid: str, *, phone: str, language: str = "en-US") -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": "1968-04-02",
        "name": [{"given": ["Test"], "family": pid.title()}],
        "telecom": [{"system": "phone", "value": phone, "use": "mobile"}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]},
                "preferred": True,
            }
        ],
    }


def consent_and_content(rt: Runtime, patient_ids: list[str]) -> None:
    with rt.transaction() as session:
        sync_library(session, library=load_library(), clock=rt.clock)
        for pid in patient_ids:
            record_consent(
                session, patient_id=pid, purpose="*", channel="*", status="granted",
                source="staff", actor="test", now=rt.clock.now(),
            )  # fmt: skip


def glucose(rt: Runtime, pid: str, *, at: datetime, mg_dl: float) -> None:
    """A glucose reading as the app posts it, through the care team's intake."""
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": "2339-0", "display": "Glucose"}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": {
            "value": mg_dl, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL",
        },
    }  # fmt: skip
    with rt.transaction() as session:
        receive_observation(
            session, observation, clock=rt.clock, principal=SYSTEM_WORKER, source="device"
        )
