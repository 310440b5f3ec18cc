"""FHIR R4 payload builders for the KPI tests, checked against the R4B models on creation."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
NOSHOW_CSV = (
    SHARED_DATA / "noshow-appointments-brazil" / "noshow_appointments_2016-04-29_to_2016-05-31.csv"
)
SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CANCELLATION_DATE = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-Appointment.cancellationDate"
)


def appointment(
    identifier: str,
    *,
    status: str,
    start: str,
    patient: str = "p1",
    created: str | None = None,
    cancelled_at: str | None = None,
    last_updated: str | None = None,
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": identifier,
        "status": status,
        "start": start,
        "end": (datetime.fromisoformat(start) + timedelta(minutes=30)).isoformat(),
        "participant": [
            {"actor": {"reference": f"Patient/{patient}"}, "status": "accepted"},
        ],
    }
    if created:
        resource["created"] = created
    if status == "cancelled":
        resource["cancelationReason"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason",
                    "code": "pat",
                }
            ]
        }
    if cancelled_at:
        resource["extension"] = [{"url": CANCELLATION_DATE, "valueDateTime": cancelled_at}]
    if last_updated:
        resource["meta"] = {"lastUpdated": last_updated}
    Appointment.model_validate(resource)
    return resource


def dispense(
    *,
    patient: str,
    code: str,
    handed_over: str,
    days: int,
    status: str = "completed",
    display: str = "drug",
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "MedicationDispense",
        "status": status,
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": code, "display": display}]
        },
        "subject": {"reference": f"Patient/{patient}"},
        "whenHandedOver": handed_over,
        "daysSupply": {
            "value": days,
            "unit": "day",
            "system": "http://unitsofmeasure.org",
            "code": "d",
        },
    }
    MedicationDispense.model_validate(resource)
    return resource


def survey(link_id: str, value: int, *, status: str = "completed") -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "status": status,
        "item": [{"linkId": link_id, "answer": [{"valueInteger": value}]}],
    }
    QuestionnaireResponse.model_validate(resource)
    return resource
