"""Device readings (FHIR Observation): known LOINC codes, UCUM units, plausible ranges.

Codes and units are data (``feedback/data/vital_codes.csv`` from the VSAC vital-sign value
sets, ``feedback/data/measure_units.csv`` from UCUM): body temperature under any of its site
codes (oral 8331-1, tympanic 8333-7, ...) in Cel or [degF], weight in kg, [lb_av] or g,
glucose in mg/dL or mmol/L. Blood pressure arrives under the panel 85354-9 or, from Synthea
and older devices, 55284-4 (or 35094-2); components may use the position-specific systolic
and diastolic codes (8459-0 sitting, ...). Values are converted to one unit per measure for
the rules; the stored Observation keeps what the device sent.

A reading that cannot be trusted is refused with the field at fault, never dropped.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from importlib import resources
from typing import Any

import orjson

from careloop.errors import InvalidInput
from careloop.feedback.timestamps import check_not_future, parse_instant
from careloop.fhirdata.references import reference_of

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
BP_PANELS = frozenset({"85354-9", "55284-4", "35094-2"})
SYSTOLIC = "8480-6"
DIASTOLIC = "8462-4"


@dataclass(frozen=True)
class Unit:
    """A UCUM unit accepted for a measure: ``canonical = value * multiply + add``."""

    multiply: float
    add: float


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    units: dict[str, Unit]  # accepted UCUM code → conversion to ``unit``
    low: float
    high: float

    def to_canonical(self, value: float, ucum: str) -> float:
        unit = self.units[ucum]
        return value * unit.multiply + unit.add


def _rows(name: str) -> list[dict[str, str]]:
    text = (resources.files("careloop.feedback") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def _load_measures() -> dict[str, Measure]:
    """LOINC code → measure, from ``data/vital_codes.csv`` and ``data/measure_units.csv``.

    Both tables name their source (VSAC value sets, UCUM); a clinical lead can add a code or
    a unit there without touching Python.
    """
    by_measure: dict[str, Measure] = {}
    for row in _rows("measure_units.csv"):
        unit = Unit(float(Fraction(row["multiply"])), float(Fraction(row["add"])))
        found = by_measure.get(row["measure"])
        if found is None:
            found = Measure(
                row["measure"], row["canonical"], {}, float(row["low"]), float(row["high"])
            )
            by_measure[row["measure"]] = found
        found.units[row["ucum"]] = unit
    return {row["loinc"]: by_measure[row["measure"]] for row in _rows("vital_codes.csv")}


MEASURES: dict[str, Measure] = _load_measures()
SYSTOLIC_CODES = frozenset(c for c, m in MEASURES.items() if m.name == "systolic_bp")
DIASTOLIC_CODES = frozenset(c for c, m in MEASURES.items() if m.name == "diastolic_bp")
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
    if str(unit) not in measure.units:
        accepted = ", ".join(measure.units)
        raise InvalidInput(
            f"{field}.valueQuantity.code: unit {str(unit)[:20]!r} is not accepted for "
            f"{measure.name} (accepted: {accepted})",
            field=f"{field}.valueQuantity.code",
        )
    converted = measure.to_canonical(float(value), str(unit))
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
        ref = reference_of(observation.get("subject"))
        if ref is None or not ref.startswith("Patient/"):
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
            if code in SYSTOLIC_CODES | DIASTOLIC_CODES:
                value, unit = _quantity(component, code, field=f"component[{index}]", strict=strict)
                key = SYSTOLIC if code in SYSTOLIC_CODES else DIASTOLIC
                found[key] = Reading(MEASURES[code].name, value, unit, at, code, obs_id)
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
