"""The portal's readings: trends, and the form whose entries become FHIR Observations.

The form's readings become LOINC-coded Observations (UCUM units) for the care team's intake
(stored, rules run, alerts raised in one transaction). Validation of ranges and units stays
with ``careloop.feedback.readings``; here only the form's text becomes numbers, and an empty
form is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from careloop.careteam.intake import receive_observation
from careloop.careteam.safety import advice_in_languages, current_advice
from careloop.errors import InvalidInput
from careloop.records.service import get_patient_record
from careloop.web.api.webhooks import InboundDep
from careloop.web.console import patient_context
from careloop.web.console.pages import after_post
from careloop.web.console.patient import reading_charts
from careloop.web.deps import PatientReach
from careloop.web.portal.i18n import translator
from careloop.web.portal.page import PortalPage, portal_page, posted_for

router = APIRouter(include_in_schema=False)

_UCUM = "http://unitsofmeasure.org"
TEMPERATURE_UNITS = ("[degF]", "Cel")
# Where thermometers read in Fahrenheit (the US and its associated states, a few others).
_FAHRENHEIT_REGIONS = frozenset(
    {"US", "PR", "GU", "VI", "AS", "MP", "LR", "BS", "BZ", "KY", "PW", "FM", "MH"}
)


def temperature_unit_for(accept_language: str | None, *, language: str) -> str:
    """°F or °C for the form: the browser's first locale with a region decides; without one,
    English is taken as the US (careloop's first sites) and other languages as Celsius."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().replace("_", "-")
        pieces = tag.split("-")
        if len(pieces) > 1 and len(pieces[-1]) == 2:
            return "[degF]" if pieces[-1].upper() in _FAHRENHEIT_REGIONS else "Cel"
    return "[degF]" if language == "en" else "Cel"


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
    temperature: str = "",
    temperature_unit: str = "[degF]",
) -> list[dict[str, Any]]:
    """One Observation per reading entered (blood pressure as one panel; a temperature as
    LOINC 8310-5 in the unit the patient read it in, UCUM ``[degF]`` or ``Cel``)."""
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
    if (value := _number(temperature, field="temperature")) is not None:
        if temperature_unit not in TEMPERATURE_UNITS:
            raise InvalidInput("temperature unit must be [degF] or Cel", field="temperature")
        found.append(
            {
                **base,
                "code": _coding("8310-5", "Body temperature"),
                "valueQuantity": _quantity(value, temperature_unit),
            }
        )
    if not found:
        raise InvalidInput("enter at least one reading", field="readings")
    return found


ReadingsPage = Annotated[
    PortalPage, Depends(portal_page("readings:write", audit_as="portal-readings"))
]


_FORM_FIELDS = ("systolic", "diastolic", "glucose", "weight", "temperature", "readings")
_CHART_WORDS = ("value", "values", "latest", "crisis", "in_crisis")


_FIELD_OF_CODE = {
    "85354-9": "systolic",
    "2339-0": "glucose",
    "29463-7": "weight",
    "8310-5": "temperature",
}


def _form_field(observation: dict[str, Any] | None) -> str:
    """The form field whose reading the intake refused (e.g. a temperature out of range)."""
    codes = ((observation or {}).get("code") or {}).get("coding") or [{}]
    return _FIELD_OF_CODE.get(str(codes[0].get("code")), "other")


def _error_text(language: str, field: str | None) -> str | None:
    """The form's problem in the patient's language (never the server's English message)."""
    if not field:
        return None
    t = translator(language)
    known = field if field in _FORM_FIELDS else "other"
    return t(f"reading_error_{known}")


@router.get("/portal/readings", response_class=HTMLResponse)
def readings_page(
    request: Request,
    page: ReadingsPage,
    ctx: InboundDep,
    saved: int = 0,
    error: Annotated[str | None, Query(max_length=32)] = None,
) -> HTMLResponse:
    series = patient_context.reading_series(page.session, patient_id=page.patient_id)
    # What to do now, while an urgent alert from the patient's own reading is open (never
    # carried in the URL: it says something clinical).
    advice = advice_in_languages(
        page.session,
        patient_id=page.patient_id,
        advice=current_advice(page.session, patient_id=page.patient_id, now=page.clock.now()),
        phone=ctx.settings.clinic_phone,
        channel="portal",
        also_in=page.language,
    )
    t = translator(page.language)
    charts = reading_charts(
        series,
        say=lambda key: t(f"chart_{key}"),
        words={word: t(f"chart_word_{word}") for word in _CHART_WORDS},
    )
    return page.show(
        "portal/readings.html",
        "readings",
        charts=charts,
        saved=bool(saved),
        advice=advice,
        error=_error_text(page.language, error),
        temperature_unit=temperature_unit_for(
            request.headers.get("accept-language"), language=page.language
        ),
    )


@router.post("/portal/readings")
def save_reading(
    request: Request,
    reach: Annotated[PatientReach, posted_for("readings:write")],
    systolic: Annotated[str, Form(max_length=8)] = "",
    diastolic: Annotated[str, Form(max_length=8)] = "",
    glucose: Annotated[str, Form(max_length=8)] = "",
    weight: Annotated[str, Form(max_length=8)] = "",
    temperature: Annotated[str, Form(max_length=8)] = "",
    temperature_unit: Annotated[str, Form(max_length=8)] = "[degF]",
) -> Response:
    session, clock, principal = reach.session, reach.clock, reach.principal
    patient_id = reach.patient_id
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    current: dict[str, Any] | None = None
    try:
        observations = observations_from_form(
            patient_fhir_id=record.sources[0],
            now=clock.now(),
            systolic=systolic,
            diastolic=diastolic,
            glucose=glucose,
            weight=weight,
            temperature=temperature,
            temperature_unit=temperature_unit,
        )
        with session.begin_nested():  # all readings of the form, or none
            for observation in observations:
                current = observation
                receive_observation(
                    session, observation, clock=clock, principal=principal, source="portal"
                )
    except InvalidInput as exc:
        field = exc.field if exc.field in _FORM_FIELDS else _form_field(current)
        return after_post(request, f"/portal/readings?patient={patient_id}&error={field}")
    return after_post(request, f"/portal/readings?patient={patient_id}&saved=1")
