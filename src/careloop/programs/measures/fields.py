"""The timing of a resource as the eCQM libraries compute it (QICoreCommon, CMD).

Each function takes a resource and the patient's birth date and returns an interval (see
``timing``). They mirror ``prevalenceInterval()``, ``toInterval()``, ``latest()`` and
``medicationRequestPeriod()`` of the 2025 libraries.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from careloop.programs.measures.timing import (
    BEGINNING,
    END_OF_TIME,
    ONE_MS,
    Interval,
    as_point_interval,
    choice_interval,
    latest,
    period_interval,
    point,
)

Resource = dict[str, Any]
ACTIVE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
CLINICAL_STATUS = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _clinical_status(condition: Resource) -> str | None:
    for coding in (condition.get("clinicalStatus") or {}).get("coding", ()):
        if coding.get("system", CLINICAL_STATUS) == CLINICAL_STATUS:
            code = coding.get("code")
            return str(code) if code is not None else None
    return None


def abatement_end(condition: Resource, birth: date | None) -> datetime | None:
    """End of QICoreCommon.abatementInterval(); a Period abatement is half-open."""
    if "abatementPeriod" in condition:
        interval = period_interval(condition["abatementPeriod"])
        if interval is None or interval[1] is None:
            return None
        return interval[1] - ONE_MS if interval[1] != END_OF_TIME else None
    interval = choice_interval(condition, "abatement", birth)
    return interval[1] if interval else None


def prevalence(condition: Resource, birth: date | None) -> Interval:
    """QICoreCommon.prevalenceInterval(): onset to abatement; active conditions never end."""
    onset = choice_interval(condition, "onset", birth)
    start = onset[0] if onset and onset[0] is not None else BEGINNING
    end = abatement_end(condition, birth)
    if _clinical_status(condition) in ACTIVE_CLINICAL:
        return (start, end if end is not None else END_OF_TIME)
    return (start, end)  # an inactive condition without abatement has an unknown end


def period(resource: Resource, _birth: date | None) -> Interval | None:
    return period_interval(resource.get("period"))


def performed(resource: Resource, birth: date | None) -> Interval | None:
    return choice_interval(resource, "performed", birth)


def effective(resource: Resource, birth: date | None) -> Interval | None:
    return choice_interval(resource, "effective", birth)


def effective_latest(resource: Resource, birth: date | None) -> Interval | None:
    return as_point_interval(latest(choice_interval(resource, "effective", birth)))


def authored(resource: Resource, _birth: date | None) -> Interval | None:
    return as_point_interval(point(resource.get("authoredOn")))


def issued(resource: Resource, _birth: date | None) -> Interval | None:
    return as_point_interval(point(resource.get("issued")))


_SPELLINGS = {
    "min": ("min", "minute", "minutes"),
    "s": ("s", "second", "seconds"),
    "h": ("h", "hour", "hours"),
    "d": ("d", "day", "days"),
    "wk": ("wk", "week", "weeks"),
    "mo": ("mo", "month", "months"),
    "a": ("a", "year", "years"),
}
_DAYS = {"min": 1 / 1440, "s": 1 / 86400, "h": 1 / 24, "d": 1.0, "wk": 7.0, "mo": 30.0, "a": 365.0}
_PER_DAY = {name: 1 / _DAYS[ucum] for ucum, names in _SPELLINGS.items() for name in names}
"""How many of a timing unit fit in a day (a frequency per unit → per day)."""
_DAYS_IN = {name: _DAYS[ucum] for ucum in ("d", "wk", "mo", "a", "h") for name in _SPELLINGS[ucum]}
"""How many days a supply unit lasts; minutes and seconds are no supply duration."""


def _single(items: Any) -> dict[str, Any]:
    return items[0] if isinstance(items, list) and len(items) == 1 else {}


def _to_daily(frequency: Any, period_value: Any, unit: Any) -> float | None:
    if frequency is None or not period_value or unit not in _PER_DAY:
        return None
    return float(frequency) * _PER_DAY[unit] / float(period_value)


def medication_request_period(request: Resource, _birth: date | None) -> Interval | None:
    """CumulativeMedicationDuration.medicationRequestPeriod(), as a day interval.

    Follows the library literally, including its quirk that ``Count(timeOfDay)`` is 0 (not
    null) when absent, so a request without frequency or days supply has no computable end.
    """
    dosage = _single(request.get("dosageInstruction"))
    dose_and_rate = _single(dosage.get("doseAndRate"))
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    frequency = repeat.get("frequencyMax", repeat.get("frequency"))
    per_day = _to_daily(frequency, repeat.get("period"), repeat.get("periodUnit"))
    doses_per_day = per_day if per_day is not None else float(len(repeat.get("timeOfDay", ())))
    dose_range = dose_and_rate.get("doseRange") or {}
    dose = (dose_range.get("high") or dose_and_rate.get("doseQuantity") or {}).get("value")
    bounds = repeat.get("boundsPeriod") or {}
    dispense = request.get("dispenseRequest") or {}
    supply = dispense.get("expectedSupplyDuration") or {}
    unit = supply.get("code") or supply.get("unit")
    days_supply = (
        float(supply["value"]) * _DAYS_IN[unit]
        if supply.get("value") is not None and unit in _DAYS_IN
        else None
    )
    quantity = (dispense.get("quantity") or {}).get("value")
    refills = dispense.get("numberOfRepeatsAllowed") or 0
    start = (
        point(bounds.get("start"))
        or point(request.get("authoredOn"))
        or point((dispense.get("validityPeriod") or {}).get("start"))
    )
    if start is None:
        return None
    start = datetime(start.year, start.month, start.day, tzinfo=UTC)
    if days_supply is None and quantity is not None and dose and doses_per_day:
        days_supply = float(quantity) / (float(dose) * doses_per_day)
    if days_supply is not None:
        total = days_supply * (1 + int(refills))
        return (start, start + timedelta(days=int(total - 1)))
    bounds_end = point(bounds.get("end"))
    if bounds_end is not None:
        return (start, datetime(bounds_end.year, bounds_end.month, bounds_end.day, tzinfo=UTC))
    return None


# Fields that are a point in CQL (a DateTime, not an Interval): ``timing.POINT_RELATIONS``.
POINT_FIELDS = frozenset({"effective_latest", "authored", "issued"})

FIELDS: dict[str, Callable[[Resource, date | None], Interval | None]] = {
    "period": period,
    "performed": performed,
    "effective": effective,
    "effective_latest": effective_latest,
    "prevalence": prevalence,
    "authored": authored,
    "issued": issued,
    "medication_period": medication_request_period,
}
