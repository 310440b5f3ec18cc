"""Real FHIR R4 payloads for the feedback loop tests (readings, check-ins, patients)."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from careloop.clock import Clock
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SYMPTOMS = "https://careloop.dev/fhir/CodeSystem/symptom"
DIARY = "https://careloop.dev/fhir/Questionnaire/oncology-symptom-diary"
PHQ9 = "https://careloop.dev/fhir/Questionnaire/phq-9"
ADHERENCE = "https://careloop.dev/fhir/Questionnaire/medication-adherence"
TOUCHPOINT = "https://careloop.dev/fhir/Questionnaire/touchpoint-feedback"
HEART_FAILURE = ("http://snomed.info/sct", "88805009", "Chronic congestive heart failure")
DIARY_ITEMS = (
    "nausea",
    "vomiting",
    "pain",
    "fatigue",
    "diarrhea",
    "constipation",
    "shortness-of-breath",
    "fever-chills",
    "mouth-sores",
    "appetite-loss",
    "numbness-tingling",
    "rash",
)
PHQ9_ITEMS = (
    "44250-9",
    "44255-8",
    "44259-0",
    "44254-1",
    "44251-7",
    "44258-2",
    "44252-5",
    "44253-3",
    "44260-8",
)
PHQ9_ANSWERS = (
    ("LA6568-5", "Not at all"),
    ("LA6569-3", "Several days"),
    ("LA6570-1", "More than half the days"),
    ("LA6571-9", "Nearly every day"),
)


def add_patients(
    rt: Runtime, tmp_path: Path, *ids: str, heart_failure: tuple[str, ...] = ()
) -> None:
    """Import Patient resources (and a heart-failure Condition for some) through records."""
    entries: list[dict[str, Any]] = []
    for pid in ids:
        entries.append(
            {
                "resource": {
                    "resourceType": "Patient",
                    "id": pid,
                    "gender": "female",
                    "birthDate": "1958-03-01",
                    "name": [{"family": "Test", "given": ["Pat"]}],
                }
            }
        )
        if pid in heart_failure:
            system, code, display = HEART_FAILURE
            entries.append(
                {
                    "resource": {
                        "resourceType": "Condition",
                        "id": f"hf-{pid}",
                        "clinicalStatus": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                    "code": "active",
                                }
                            ]
                        },
                        "code": {"coding": [{"system": system, "code": code, "display": display}]},
                        "subject": {"reference": f"Patient/{pid}"},
                        "onsetDateTime": "2019-05-01T00:00:00Z",
                    }
                }
            )
    path = tmp_path / f"patients-{uuid.uuid4().hex[:8]}.json"
    path.write_bytes(
        orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    )
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    assert summary.read_anything


def quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def blood_pressure(
    patient: str,
    systolic: float,
    diastolic: float,
    at: datetime,
    *,
    panel: str = "85354-9",
    obs_id: str | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id or f"bp-{uuid.uuid4().hex[:12]}",
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
        "code": {"coding": [{"system": LOINC, "code": panel, "display": "Blood pressure panel"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": at.isoformat(),
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                "valueQuantity": quantity(systolic, "mm[Hg]"),
            },
            {
                "code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                "valueQuantity": quantity(diastolic, "mm[Hg]"),
            },
        ],
    }


def single(
    patient: str, code: str, value: float, unit: str, at: datetime, *, obs_id: str | None = None
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": obs_id or f"obs-{uuid.uuid4().hex[:12]}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": at.isoformat(),
        "valueQuantity": quantity(value, unit),
    }


def glucose(patient: str, value: float, at: datetime, *, unit: str = "mg/dL") -> dict[str, Any]:
    return single(patient, "41653-7", value, unit, at)


def weight(patient: str, value: float, at: datetime, *, unit: str = "kg") -> dict[str, Any]:
    return single(patient, "29463-7", value, unit, at)


def diary(
    patient: str, grades: dict[str, int], at: datetime, *, rid: str | None = None
) -> dict[str, Any]:
    """A completed symptom diary: the given grades, 0 for every other item."""
    answers = dict.fromkeys(DIARY_ITEMS, 0) | grades
    return {
        "resourceType": "QuestionnaireResponse",
        "id": rid or f"qr-{uuid.uuid4().hex[:12]}",
        "questionnaire": DIARY,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": at.isoformat(),
        "item": [{"linkId": k, "answer": [{"valueInteger": v}]} for k, v in answers.items()],
    }


def phq9(
    patient: str, scores: list[int], at: datetime, *, total: float | None = None
) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {
            "linkId": code,
            "answer": [
                {
                    "valueCoding": {
                        "system": LOINC,
                        "code": PHQ9_ANSWERS[s][0],
                        "display": PHQ9_ANSWERS[s][1],
                    }
                }
            ],
        }
        for code, s in zip(PHQ9_ITEMS, scores, strict=True)
    ]
    if total is not None:
        items.append({"linkId": "44261-6", "answer": [{"valueDecimal": total}]})
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid4().hex[:12]}",
        "questionnaire": PHQ9,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": at.isoformat(),
        "item": [{"linkId": "phq9", "item": items}],
    }


def adherence(
    patient: str, missed: int, at: datetime, *, barrier: str | None = None
) -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"linkId": "missed-days", "answer": [{"valueInteger": missed}]}]
    if barrier:
        items.append(
            {
                "linkId": "barrier",
                "answer": [
                    {
                        "valueCoding": {
                            "system": "https://careloop.dev/fhir/CodeSystem/adherence-barrier",
                            "code": barrier,
                        }
                    }
                ],
            }
        )
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid4().hex[:12]}",
        "questionnaire": ADHERENCE,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": at.isoformat(),
        "item": items,
    }


def touchpoint(patient: str, recommend: int, satisfaction: int, at: datetime) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "id": f"qr-{uuid.uuid4().hex[:12]}",
        "questionnaire": TOUCHPOINT,
        "status": "completed",
        "subject": {"reference": f"Patient/{patient}"},
        "authored": at.isoformat(),
        "item": [
            {"linkId": "likely-to-recommend", "answer": [{"valueInteger": recommend}]},
            {"linkId": "satisfaction", "answer": [{"valueInteger": satisfaction}]},
        ],
    }


def now_of(clock: Clock) -> datetime:
    return clock.now()


RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def temperature(
    patient: str, value: float, at: datetime, *, unit: str = "Cel", code: str = "8310-5"
) -> dict[str, Any]:
    """A body temperature under any of its LOINC site codes (8331-1 oral, 8333-7 tympanic)."""
    return single(patient, code, value, unit, at)


def chemotherapy_given(patient: str, at: datetime) -> dict[str, Any]:
    """A MedicationAdministration of doxorubicin as Synthea/mCODE write it (an RxNorm SCD)."""
    return {
        "resourceType": "MedicationAdministration",
        "id": f"ma-{uuid.uuid4().hex[:12]}",
        "status": "completed",
        "medicationCodeableConcept": {
            "coding": [
                {
                    "system": RXNORM,
                    "code": "1790099",
                    "display": "10 ML Doxorubicin Hydrochloride 2 MG/ML Injection",
                }
            ]
        },
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": at.isoformat(),
    }


def import_resources(rt: Runtime, tmp_path: Path, *resources: dict[str, Any]) -> None:
    """Import more of a patient's record (medications, procedures) through records."""
    path = tmp_path / f"record-{uuid.uuid4().hex[:8]}.json"
    entries = [{"resource": r} for r in resources]
    path.write_bytes(
        orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries})
    )
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    assert not summary.rejected, summary.rejected


def register_devices(rt: Runtime, patient: str, *device_ids: str) -> None:
    """Register devices for a patient, as ``careloop devices register`` does."""
    from careloop.feedback.devices import register_device

    with rt.transaction() as session:
        for device_id in device_ids:
            register_device(
                session,
                device_id=device_id,
                patient=patient,
                clock=rt.clock,
                principal=CLI_OPERATOR,
            )
