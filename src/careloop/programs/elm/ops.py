"""CQL operator semantics over runtime values: comparison, equality, equivalence, arithmetic.

Every function follows CQL's null rules: a comparison with null is null, ``and``/``or`` are
three-valued (``and3``/``or3``), equivalence (``~``) is never null.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from careloop.programs.elm.cqltime import UNIT_PRECISION, CqlDateTime
from careloop.programs.elm.units import canonical, convert
from careloop.programs.elm.values import Code, Concept, Interval, Quantity, Typed, unwrap


def and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def not3(a: bool | None) -> bool | None:
    return None if a is None else not a


def compare(a: Any, b: Any, prec: int | None = None) -> int | None:
    """-1/0/1 ordering of two values of one type; None when unknown or not comparable."""
    if a is None or b is None:
        return None
    if isinstance(a, Typed) or isinstance(b, Typed):
        return compare(unwrap(a), unwrap(b), prec)
    if isinstance(a, CqlDateTime):
        return a.compare(b, prec) if isinstance(b, CqlDateTime) else None
    if isinstance(a, Quantity):
        if not isinstance(b, Quantity):
            return None
        other = convert(b.value, b.unit, a.unit)
        if other is None:
            return None
        return (a.value > other) - (a.value < other)
    if isinstance(a, bool) or isinstance(b, bool):
        return None
    try:
        return int((a > b) - (a < b))
    except TypeError:
        return None


def equal(a: Any, b: Any) -> bool | None:
    """CQL ``=``: null if either side is null (or the comparison is uncertain)."""
    if a is None or b is None:
        return None
    a, b = unwrap(a), unwrap(b)
    if isinstance(a, CqlDateTime | Quantity) or isinstance(b, CqlDateTime | Quantity):
        order = compare(a, b)
        return None if order is None else order == 0
    if isinstance(a, Interval):
        if not isinstance(b, Interval):
            return False
        return and3(equal(a.start(), b.start()), equal(a.end(), b.end()))
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return False
        result: bool | None = True
        for x, y in zip(a, b, strict=True):
            result = and3(result, equal(x, y))
        return result
    if isinstance(a, Code) and isinstance(b, Code):
        return a.code == b.code and a.system == b.system and a.version == b.version
    if isinstance(a, dict) and isinstance(b, dict):
        if a is b:
            return True
        if set(a) != set(b):
            return False
        outcome: bool | None = True
        for key in a:
            if a[key] is None and b[key] is None:
                continue
            outcome = and3(outcome, equal(a[key], b[key]))
        return outcome
    if isinstance(a, float) or isinstance(b, float):
        try:
            return abs(float(a) - float(b)) < 1e-9
        except (TypeError, ValueError):
            return False
    return bool(a == b)


def _normal_text(text: str) -> str:
    return " ".join(text.split()).lower()


def _codes_of(value: Any) -> list[Code] | None:
    if isinstance(value, Code):
        return [value]
    if isinstance(value, Concept):
        return list(value.codes)
    return None


def equivalent(a: Any, b: Any) -> bool:
    """CQL ``~``: never null; strings ignore case and spacing; concepts share a code."""
    a, b = unwrap(a), unwrap(b)
    if a is None or b is None:
        return a is None and b is None
    codes_a, codes_b = _codes_of(a), _codes_of(b)
    if codes_a is not None and codes_b is not None:
        return any(x.code == y.code and x.system == y.system for x in codes_a for y in codes_b)
    if isinstance(a, str) and isinstance(b, str):
        return _normal_text(a) == _normal_text(b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equivalent(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        other = convert(b.value, b.unit, a.unit)
        return other is not None and abs(a.value - other) < 1e-8
    if isinstance(a, CqlDateTime) and isinstance(b, CqlDateTime):
        return a.prec == b.prec and a.compare(b) == 0
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(equivalent(a[k], b[k]) for k in a)
    return equal(a, b) is True


def add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, CqlDateTime) and isinstance(b, Quantity):
        return a.shifted(b.value, _calendar_unit(b.unit))
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        other = convert(b.value, b.unit, a.unit)
        return None if other is None else Quantity(a.value + other, a.unit)
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    return a + b


def subtract(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, CqlDateTime) and isinstance(b, Quantity):
        return a.shifted(-b.value, _calendar_unit(b.unit))
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        other = convert(b.value, b.unit, a.unit)
        return None if other is None else Quantity(a.value - other, a.unit)
    return a - b


def multiply(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        unit = a.unit if canonical(b.unit) == "1" else b.unit if canonical(a.unit) == "1" else None
        if unit is None:
            unit = f"{a.unit}.{b.unit}"
        return Quantity(a.value * b.value, unit)
    if isinstance(a, Quantity):
        return Quantity(a.value * b, a.unit)
    if isinstance(b, Quantity):
        return Quantity(a * b.value, b.unit)
    return a * b


def divide(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, Quantity) and isinstance(b, Quantity):
        if b.value == 0:
            return None
        other = convert(b.value, b.unit, a.unit)
        if other is not None:
            return Quantity(a.value / other, "1")
        unit = a.unit if canonical(b.unit) == "1" else f"{a.unit}/{b.unit}"
        return Quantity(a.value / b.value, unit)
    if isinstance(a, Quantity):
        return None if b == 0 else Quantity(a.value / b, a.unit)
    if b == 0:
        return None
    return float(a) / float(b)


def _calendar_unit(unit: str) -> str:
    if unit in UNIT_PRECISION:
        return unit
    raise ValueError(f"cannot move a date by a quantity in {unit!r}")


def distinct(values: Iterable[Any]) -> list[Any]:
    """Values without repeats (CQL equality; resources by identity); order kept."""
    seen_ids: set[int] = set()
    seen: set[Any] = set()
    others: list[Any] = []
    result = []
    for value in values:
        if isinstance(value, dict):
            key = id(value)
            if key in seen_ids:
                continue
            if value.get("resourceType") is None and any(equal(value, o) for o in others):
                continue
            seen_ids.add(key)
            others.append(value)
        elif value is None or isinstance(value, list | Interval):
            if any(equivalent(value, o) if value is None else equal(value, o) for o in others):
                continue
            others.append(value)
        else:
            try:
                if value in seen:
                    continue
                seen.add(value)
            except TypeError:
                if any(equal(value, o) for o in others):
                    continue
                others.append(value)
        result.append(value)
    return result
