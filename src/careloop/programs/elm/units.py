"""Units of CQL Quantities: the calendar-duration words and the UCUM units measures compare.

A Quantity comparison needs both sides in one unit. Units are reduced to a base unit and a
factor; units of different dimensions do not compare (null). This covers the units eCQM logic
writes literally (durations, %, mm[Hg], mass, volume, concentration); a unit outside the table
compares only with itself. (A full UCUM parser — ``ucumvert`` on PyPI — was considered: the
published measures never compare units it would add, and it brings pint and lark.)
"""

from __future__ import annotations

_DAY = 86400.0
# unit -> (dimension, factor to the dimension's base unit)
_UNITS: dict[str, tuple[str, float]] = {
    "ms": ("s", 0.001),
    "s": ("s", 1.0),
    "min": ("s", 60.0),
    "h": ("s", 3600.0),
    "d": ("s", _DAY),
    "wk": ("s", 7 * _DAY),
    "mo": ("s", 30.4375 * _DAY),
    "a": ("s", 365.25 * _DAY),
    "g": ("g", 1.0),
    "mg": ("g", 1e-3),
    "ug": ("g", 1e-6),
    "kg": ("g", 1e3),
    "[lb_av]": ("g", 453.59237),
    "L": ("L", 1.0),
    "l": ("L", 1.0),
    "dL": ("L", 0.1),
    "mL": ("L", 1e-3),
    "m": ("m", 1.0),
    "cm": ("m", 0.01),
    "mm": ("m", 0.001),
    "[in_i]": ("m", 0.0254),
    "mg/dL": ("g/L", 0.01),
    "g/dL": ("g/L", 10.0),
    "g/L": ("g/L", 1.0),
    "mg/L": ("g/L", 1e-3),
    "%": ("%", 1.0),
    "mm[Hg]": ("mm[Hg]", 1.0),
    "1": ("1", 1.0),
    "": ("1", 1.0),
}
# CQL's calendar-duration words and their UCUM definite-duration counterparts.
CALENDAR_WORDS = {
    "year": "a",
    "years": "a",
    "month": "mo",
    "months": "mo",
    "week": "wk",
    "weeks": "wk",
    "day": "d",
    "days": "d",
    "hour": "h",
    "hours": "h",
    "minute": "min",
    "minutes": "min",
    "second": "s",
    "seconds": "s",
    "millisecond": "ms",
    "milliseconds": "ms",
}


def canonical(unit: str | None) -> str:
    if unit is None:
        return "1"
    return CALENDAR_WORDS.get(unit, unit)


def convert(value: float, unit: str | None, target: str | None) -> float | None:
    """``value`` in ``unit`` expressed in ``target``; None when the two do not convert."""
    source, wanted = canonical(unit), canonical(target)
    if source == wanted:
        return value
    a = _UNITS.get(source)
    b = _UNITS.get(wanted)
    if a is None or b is None or a[0] != b[0]:
        return None
    return value * a[1] / b[1]
