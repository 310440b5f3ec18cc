"""CQL interval and timing operators, each defined on closed boundaries with three-valued logic.

``during``, ``overlaps``, ``before``... reduce to comparisons of ``start()``/``end()`` (an
unknown boundary is None, so the relation is null unless the other comparisons already decide
it), optionally at a precision (``during day of``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar

from careloop.programs.elm.ops import and3, compare, or3
from careloop.programs.elm.values import Interval, predecessor, successor

_A = TypeVar("_A")
_B = TypeVar("_B")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _null_operand_is_null(
    operation: Callable[Concatenate[_A, _B, _P], _R],
) -> Callable[Concatenate[_A | None, _B | None, _P], _R | None]:
    """CQL's rule for the interval operators: a null operand makes the result null. Said once
    here, so each operator below is only its comparison of boundaries."""

    @functools.wraps(operation)
    def operate(a: _A | None, b: _B | None, /, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        if a is None or b is None:
            return None
        return operation(a, b, *args, **kwargs)

    return operate


def _cmp(a: Any, b: Any, prec: int | None) -> int | None:
    return compare(a, b, prec)


def le(a: Any, b: Any, prec: int | None = None) -> bool | None:
    order = _cmp(a, b, prec)
    return None if order is None else order <= 0


def lt(a: Any, b: Any, prec: int | None = None) -> bool | None:
    order = _cmp(a, b, prec)
    return None if order is None else order < 0


def eq(a: Any, b: Any, prec: int | None = None) -> bool | None:
    order = _cmp(a, b, prec)
    return None if order is None else order == 0


def _start(value: Any) -> Any:
    return value.start() if isinstance(value, Interval) else value


def _end(value: Any) -> Any:
    return value.end() if isinstance(value, Interval) else value


def contains_point(ivl: Interval | None, point: Any, prec: int | None = None) -> bool | None:
    """``point in ivl``. As in the reference engine (cql-execution's ``Interval.contains``),
    a point equal to a closed boundary (the same instant, whatever offset it is written in)
    is in the interval before any comparison at ``prec``: at day precision the dates as
    written would otherwise put ``2023-12-31T19:00-05:00`` outside ``[2024-01-01T00:00Z, ...]``.
    """
    if ivl is None or point is None:
        return None
    if ivl.low_closed and ivl.low is not None and compare(ivl.low, point, None) == 0:
        return True
    if ivl.high_closed and ivl.high is not None and compare(ivl.high, point, None) == 0:
        return True
    return and3(le(ivl.start(), point, prec), le(point, ivl.end(), prec))


@_null_operand_is_null
def included_in(a: Any, b: Any, prec: int | None = None) -> bool | None:
    """``a during b`` (a point or an interval within interval b)."""
    if not isinstance(a, Interval):
        return contains_point(b, a, prec)
    return and3(le(b.start(), a.start(), prec), le(a.end(), b.end(), prec))


def proper_included_in(a: Any, b: Any, prec: int | None = None) -> bool | None:
    inside = included_in(a, b, prec)
    if inside is not True:
        return inside
    same = and3(eq(_start(a), b.start(), prec), eq(_end(a), b.end(), prec))
    return None if same is None else not same


@_null_operand_is_null
def overlaps(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return and3(le(a.start(), b.end(), prec), le(b.start(), a.end(), prec))


@_null_operand_is_null
def overlaps_before(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return and3(lt(a.start(), b.start(), prec), overlaps(a, b, prec))


@_null_operand_is_null
def overlaps_after(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return and3(lt(b.end(), a.end(), prec), overlaps(a, b, prec))


@_null_operand_is_null
def before(a: Any, b: Any, prec: int | None = None) -> bool | None:
    return lt(_end(a), _start(b), prec)


def after(a: Any, b: Any, prec: int | None = None) -> bool | None:
    return before(b, a, prec)


@_null_operand_is_null
def same_as(a: Any, b: Any, prec: int | None = None) -> bool | None:
    if isinstance(a, Interval) and isinstance(b, Interval):
        return and3(eq(a.start(), b.start(), prec), eq(a.end(), b.end(), prec))
    return eq(a, b, prec)


@_null_operand_is_null
def same_or_before(a: Any, b: Any, prec: int | None = None) -> bool | None:
    return le(_end(a), _start(b), prec)


def same_or_after(a: Any, b: Any, prec: int | None = None) -> bool | None:
    return same_or_before(b, a, prec)


def meets(a: Interval | None, b: Interval | None, prec: int | None = None) -> bool | None:
    return or3(meets_before(a, b, prec), meets_before(b, a, prec))


@_null_operand_is_null
def meets_before(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return eq(successor(a.end()), b.start(), prec)


@_null_operand_is_null
def starts(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return and3(eq(a.start(), b.start(), prec), le(a.end(), b.end(), prec))


@_null_operand_is_null
def ends(a: Interval, b: Interval, prec: int | None = None) -> bool | None:
    return and3(le(b.start(), a.start(), prec), eq(a.end(), b.end(), prec))


@_null_operand_is_null
def intersect(a: Interval, b: Interval) -> Interval | None:
    if overlaps(a, b) is not True:
        return None
    low = a.start() if lt(b.start(), a.start()) else b.start()
    high = a.end() if lt(a.end(), b.end()) else b.end()
    return Interval(low, high)


@_null_operand_is_null
def union(a: Interval, b: Interval) -> Interval | None:
    if overlaps(a, b) is not True and meets(a, b) is not True:
        return None
    low = a.start() if le(a.start(), b.start()) else b.start()
    high = b.end() if le(a.end(), b.end()) else a.end()
    return Interval(low, high)


@_null_operand_is_null
def except_(a: Interval, b: Interval) -> Interval | None:
    if overlaps(a, b) is not True:
        return a
    if le(b.start(), a.start()) and le(a.end(), b.end()):
        return None
    if lt(a.start(), b.start()) and le(a.end(), b.end()):
        return Interval(a.start(), predecessor(b.start()))
    if le(b.start(), a.start()) and lt(b.end(), a.end()):
        return Interval(successor(b.end()), a.end())
    return None


def collapse(intervals: list[Interval | None] | None) -> list[Interval] | None:
    """Merge overlapping or adjacent intervals, sorted by start."""
    if intervals is None:
        return None
    items = [i for i in intervals if i is not None and i.start() is not None]
    items.sort(key=_sort_key)
    merged: list[Interval] = []
    for item in items:
        if merged:
            last = merged[-1]
            if or3(overlaps(last, item), meets(last, item)) is True:
                if lt(last.end(), item.end()) is True or last.end() is None:
                    merged[-1] = Interval(last.start(), item.end())
                continue
        merged.append(Interval(item.start(), item.end()))
    return merged


def _sort_key(ivl: Interval) -> Any:
    start = ivl.start()
    parts = getattr(start, "parts", None)
    return parts if parts is not None else start


def width(ivl: Interval | None) -> Any:
    from careloop.programs.elm.ops import subtract

    if ivl is None:
        return None
    return subtract(ivl.end(), ivl.start())
