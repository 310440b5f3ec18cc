"""The readings form as FHIR Observations (LOINC-coded, UCUM units), ready for intake.

Validation of ranges and units stays with ``careloop.feedback.readings``; here only the
form's text becomes numbers, and an empty form is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.errors import InvalidInput

_UCUM = "http://unitsofmeasure.org"
_LOINC = "http://loinc.org"


def _number(text: str, *, field: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise InvalidInput(f"{field} must be a number", field=field) from None


def _quantity(value: float, unit: str) -> dict[str, Any]:
    return {"value": value, "unit": unit, "system": _UCUM, "code": unit}


def _coding(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": _LOINC, "code": code, "display": display}], "text": display}


def observations_from_form(
    *,
    patient_fhir_id: str,
    now: datetime,
    systolic: str,
    diastolic: str,
    glucose: str,
    weight: str,
) -> list[dict[str, Any]]:
    """One Observation per reading entered (blood pressure as one panel)."""
    base = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{patient_fhir_id}"},
        "effectiveDateTime": now.isoformat(),
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
    }
    found: list[dict[str, Any]] = []
    sys_value = _number(systolic, field="systolic")
    dia_value = _number(diastolic, field="diastolic")
    if (sys_value is None) != (dia_value is None):
        raise InvalidInput("enter both blood pressure numbers", field="systolic")
    if sys_value is not None and dia_value is not None:
        found.append(
            {
                **base,
                "code": _coding("85354-9", "Blood pressure panel"),
                "component": [
                    {
                        "code": _coding("8480-6", "Systolic blood pressure"),
                        "valueQuantity": _quantity(sys_value, "mm[Hg]"),
                    },
                    {
                        "code": _coding("8462-4", "Diastolic blood pressure"),
                        "valueQuantity": _quantity(dia_value, "mm[Hg]"),
                    },
                ],
            }
        )
    if (value := _number(glucose, field="glucose")) is not None:
        found.append(
            {
                **base,
                "code": _coding("2339-0", "Glucose"),
                "valueQuantity": _quantity(value, "mg/dL"),
            }
        )
    if (value := _number(weight, field="weight")) is not None:
        found.append(
            {
                **base,
                "code": _coding("29463-7", "Body weight"),
                "valueQuantity": _quantity(value, "kg"),
            }
        )
    if not found:
        raise InvalidInput("enter at least one reading", field="readings")
    return found
