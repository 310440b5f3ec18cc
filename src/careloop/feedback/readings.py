"""Device readings (FHIR Observation): known LOINC codes, UCUM units, plausible ranges.

Codes and units follow ``reference-codes/loinc_vitals_rpm.csv`` (checked against the FHIR
vital-signs value set and VSAC). Blood pressure arrives under the panel 85354-9 or, from
Synthea and older devices, 55284-4; both carry systolic 8480-6 and diastolic 8462-4 as
components. Values are converted to one unit per measure (glucose mg/dL, weight kg) for the
rules; the stored Observation keeps what the device sent.

A reading that cannot be trusted is refused with the field at fault, never dropped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from careloop.errors import InvalidInput
from careloop.feedback.timestamps import check_not_future, parse_instant

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BP_PANELS = frozenset({"85354-9", "55284-4"})
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"
GLUCOSE_MG_PER_MMOL = 18.016  # glucose molar mass 180.16 g/mol


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    units: dict[str, float]  # accepted UCUM code → factor to ``unit``
    low: float
    high: float


_BP_UNITS = {"mm[Hg]": 1.0}
MEASURES: dict[str, Measure] = {
    SYSTOLIC: Measure("systolic_bp", "mm[Hg]", _BP_UNITS, 50, 300),
    DIASTOLIC: Measure("diastolic_bp", "mm[Hg]", _BP_UNITS, 20, 200),
    "8867-4": Measure("heart_rate", "/min", {"/min": 1.0, "{beats}/min": 1.0}, 20, 250),
    "59408-5": Measure("spo2", "%", {"%": 1.0}, 50, 100),
    "2708-6": Measure("spo2", "%", {"%": 1.0}, 50, 100),
    "29463-7": Measure("weight", "kg", {"kg": 1.0, "[lb_av]": 0.45359237, "g": 0.001}, 20, 350),
    "4548-4": Measure("hba1c", "%", {"%": 1.0}, 3, 20),
    "8310-5": Measure("body_temperature", "Cel", {"Cel": 1.0}, 30, 45),
}
for _code in ("2339-0", "41653-7", "2345-7", "15074-8", "14743-9"):
    MEASURES[_code] = Measure(
        "glucose", "mg/dL", {"mg/dL": 1.0, "mmol/L": GLUCOSE_MG_PER_MMOL}, 10, 1000
    )
ACCEPTED_STATUSES = frozenset({"final", "amended", "corrected", "preliminary"})


@dataclass(frozen=True)
class Reading:
    """One measured value in its measure's unit, with where it came from."""

    measure: str
    value: float
    unit: str
    at: datetime
    code: str
    observation_id: str


def known_codes() -> list[str]:
    return sorted(BP_PANELS | set(MEASURES))


def _loinc_codes(concept: Any) -> list[str]:
    if not isinstance(concept, dict):
        return []
    return [
        c["code"]
        for c in concept.get("coding") or []
        if isinstance(c, dict) and c.get("system") == LOINC and isinstance(c.get("code"), str)
    ]


def _quantity(holder: dict[str, Any], code: str, *, field: str, strict: bool) -> tuple[float, str]:
    measure = MEASURES[code]
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, dict):
        raise InvalidInput(
            f"{field}.valueQuantity: a quantity is required", field=f"{field}.valueQuantity"
        )
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(
            f"{field}.valueQuantity.value: a number is required",
            field=f"{field}.valueQuantity.value",
        )
    unit = quantity.get("code") or (None if strict else quantity.get("unit"))
    system = quantity.get("system")
    if system is not None and system != UCUM:
        raise InvalidInput(
            f"{field}.valueQuantity.system: units must be UCUM ({UCUM})",
            field=f"{field}.valueQuantity.system",
        )
    if unit == "mmHg" and not strict:
        unit = "mm[Hg]"
    factor = measure.units.get(str(unit))
    if factor is None:
        accepted = ", ".join(measure.units)
        raise InvalidInput(
            f"{field}.valueQuantity.code: unit {str(unit)[:20]!r} is not accepted for "
            f"{measure.name} (accepted: {accepted})",
            field=f"{field}.valueQuantity.code",
        )
    converted = float(value) * factor
    if strict and not measure.low <= converted <= measure.high:
        raise InvalidInput(
            f"{field}.valueQuantity.value: {converted:g} {measure.unit} is outside the plausible "
            f"range {measure.low:g}-{measure.high:g} for {measure.name}",
            field=f"{field}.valueQuantity.value",
        )
    return converted, measure.unit


def observation_id(observation: dict[str, Any]) -> str:
    """The Observation's id, or a content hash so a re-sent reading is recognised."""
    given = observation.get("id")
    if isinstance(given, str) and given:
        return given
    digest = hashlib.sha256(orjson.dumps(observation, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"rd-{digest[:40]}"


def read_observation(observation: dict[str, Any], *, now: datetime | None) -> list[Reading]:
    """The readings in an Observation; with ``now``, validated strictly as new input.

    Without ``now`` (history already in the record) unknown codes yield nothing and units
    are read leniently, because the record holds whatever the EHR sent.
    """
    strict = now is not None
    if observation.get("resourceType") != "Observation":
        raise InvalidInput("expected an Observation", field="resourceType")
    obs_id = observation_id(observation)
    if strict:
        if observation.get("status") not in ACCEPTED_STATUSES:
            raise InvalidInput(
                "status: must be final, amended, corrected or preliminary", field="status"
            )
        subject = observation.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(ref, str) or not ref.startswith("Patient/"):
            raise InvalidInput("subject: a Patient reference is required", field="subject")
    when = observation.get("effectiveDateTime") or observation.get("effectiveInstant")
    field = "effectiveDateTime" if "effectiveDateTime" in observation else "effectiveInstant"
    if strict:
        at = parse_instant(when, field=field)
        check_not_future(at, now=now, field=field)  # type: ignore[arg-type]
    else:
        try:
            at = parse_instant(when, field=field)
        except InvalidInput:
            return []
    codes = _loinc_codes(observation.get("code"))
    panel = [c for c in codes if c in BP_PANELS]
    single = [c for c in codes if c in MEASURES]
    try:
        if panel:
            return _blood_pressure(observation, at=at, obs_id=obs_id, strict=strict)
        if single:
            value, unit = _quantity(observation, single[0], field="Observation", strict=strict)
            name = MEASURES[single[0]].name
            return [Reading(name, value, unit, at, single[0], obs_id)]
    except InvalidInput:
        if strict:
            raise
        return []
    if strict:
        raise InvalidInput(
            "code: not a reading careloop accepts (LOINC: " + ", ".join(known_codes()) + ")",
            field="code",
        )
    return []


def _blood_pressure(
    observation: dict[str, Any], *, at: datetime, obs_id: str, strict: bool
) -> list[Reading]:
    found: dict[str, Reading] = {}
    for index, component in enumerate(observation.get("component") or []):
        if not isinstance(component, dict):
            continue
        for code in _loinc_codes(component.get("code")):
            if code in (SYSTOLIC, DIASTOLIC):
                value, unit = _quantity(component, code, field=f"component[{index}]", strict=strict)
                found[code] = Reading(MEASURES[code].name, value, unit, at, code, obs_id)
    if strict:
        for code, name in ((SYSTOLIC, "systolic"), (DIASTOLIC, "diastolic")):
            if code not in found:
                raise InvalidInput(
                    f"component: the {name} value ({code}) is missing", field="component"
                )
        if found[SYSTOLIC].value <= found[DIASTOLIC].value:
            raise InvalidInput(
                "component: systolic must be higher than diastolic", field="component"
            )
    return list(found.values())
