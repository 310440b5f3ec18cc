"""Date/time functions and interval/timing operators (``during day of``, ``overlaps``...)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from careloop.programs.elm import intervals as iv
from careloop.programs.elm import ops
from careloop.programs.elm.compiler import Compiler, Context, ElmLibrary, Env, Fn, Node, handler
from careloop.programs.elm.cqltime import (
    DAY,
    CqlDateTime,
    boundaries_between,
    precision_of,
    whole_between,
)
from careloop.programs.elm.values import Interval, Quantity, predecessor, successor, unwrap


def _precise(
    compiler: Compiler, node: Node, lib: ElmLibrary, op: Callable[[Any, Any, int | None], Any]
) -> Fn:
    left, right = compiler.operands(node, lib)
    prec = precision_of(node.get("precision"))

    def fn(ctx: Context, env: Env) -> Any:
        return op(unwrap(left(ctx, env)), unwrap(right(ctx, env)), prec)

    return fn


def _list_or_interval_in(a: Any, b: Any, prec: int | None) -> Any:
    """CQL ``In``: a null list contains nothing (false); a null element is in a list only
    when the list holds a null (CQL 1.5 "In (List)", as the reference engine does)."""
    if b is None:
        return False
    if isinstance(b, list):
        if a is None:
            return any(item is None for item in b)
        return any(ops.equal(a, item) is True for item in b)
    return iv.contains_point(b, a, prec)


def _included_in(a: Any, b: Any, prec: int | None) -> Any:
    if isinstance(a, list) or isinstance(b, list):
        if a is None or b is None:
            return None
        return all(any(ops.equal(x, y) is True for y in b) for x in a)
    return iv.included_in(a, b, prec)


_TIMING: dict[str, Callable[[Any, Any, int | None], Any]] = {
    "In": _list_or_interval_in,
    "Contains": lambda a, b, p: _list_or_interval_in(b, a, p),
    "IncludedIn": _included_in,
    "Includes": lambda a, b, p: _included_in(b, a, p),
    "ProperIncludedIn": iv.proper_included_in,
    "ProperIncludes": lambda a, b, p: iv.proper_included_in(b, a, p),
    "Overlaps": iv.overlaps,
    "OverlapsBefore": iv.overlaps_before,
    "OverlapsAfter": iv.overlaps_after,
    "Before": iv.before,
    "After": iv.after,
    "SameAs": iv.same_as,
    "SameOrBefore": iv.same_or_before,
    "SameOrAfter": iv.same_or_after,
    "Meets": iv.meets,
    "MeetsBefore": iv.meets_before,
    "MeetsAfter": lambda a, b, p: iv.meets_before(b, a, p),
    "Starts": iv.starts,
    "Ends": iv.ends,
}


@handler(*_TIMING)
def timing(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return _precise(compiler, node, lib, _TIMING[str(node["type"])])


def _unary(compiler: Compiler, node: Node, lib: ElmLibrary, op: Callable[[Any], Any]) -> Fn:
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return op(unwrap(arg(ctx, env)))

    return fn


def _point_from(ivl: Any) -> Any:
    if ivl is None:
        return None
    start, end = ivl.start(), ivl.end()
    return start if ops.equal(start, end) else None


_INTERVAL_UNARY: dict[str, Callable[[Any], Any]] = {
    "Start": lambda i: None if i is None else i.start(),
    "End": lambda i: None if i is None else i.end(),
    "Width": iv.width,
    "PointFrom": _point_from,
    "DateFrom": lambda d: None if d is None else d.as_date(),
    "Predecessor": lambda v: None if v is None else predecessor(v),
    "Successor": lambda v: None if v is None else successor(v),
}


@handler(*_INTERVAL_UNARY)
def interval_unary(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return _unary(compiler, node, lib, _INTERVAL_UNARY[str(node["type"])])


@handler("Size")
def size(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    def measure(ivl: Any) -> Any:
        width = iv.width(ivl)
        return None if width is None else ops.add(width, 1 if isinstance(width, int) else 0)

    return _unary(compiler, node, lib, measure)


@handler("DateTimeComponentFrom")
def component_from(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    prec = precision_of(node["precision"])
    assert prec is not None
    return _unary(compiler, node, lib, lambda d: None if d is None else d.component(prec))


def _between(kind: str, prec: int) -> Callable[[Any, Any], Any]:
    measure = whole_between if kind == "DurationBetween" else boundaries_between

    def fn(a: Any, b: Any) -> Any:
        if a is None or b is None:
            return None
        return measure(a, b, prec)

    return fn


@handler("DurationBetween", "DifferenceBetween")
def between(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    name = str(node["precision"]).lower()
    prec = -1 if name == "week" else precision_of(name)
    assert prec is not None
    left, right = compiler.operands(node, lib)
    measure = _between(str(node["type"]), prec)

    def fn(ctx: Context, env: Env) -> Any:
        return measure(unwrap(left(ctx, env)), unwrap(right(ctx, env)))

    return fn


@handler("CalculateAgeAt")
def age_at(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    prec = precision_of(node["precision"])
    assert prec is not None
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        birth, when = unwrap(left(ctx, env)), unwrap(right(ctx, env))
        if birth is None or when is None:
            return None
        if prec <= DAY:
            birth, when = birth.as_date(), when.as_date()
        return whole_between(birth, when, prec)

    return fn


@handler("CalculateAge")
def age(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    prec = precision_of(node["precision"])
    assert prec is not None
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        birth = unwrap(arg(ctx, env))
        if birth is None:
            return None
        now = ctx.now.as_date() if prec <= DAY else ctx.now
        return whole_between(birth.as_date() if prec <= DAY else birth, now, prec)

    return fn


@handler("Now")
def now(_c: Compiler, _node: Node, _lib: ElmLibrary) -> Fn:
    def fn(ctx: Context, _env: Env) -> Any:
        return ctx.now

    return fn


@handler("Today")
def today(_c: Compiler, _node: Node, _lib: ElmLibrary) -> Fn:
    def fn(ctx: Context, _env: Env) -> Any:
        return ctx.now.as_date()

    return fn


def _expand(intervals: Any, per: Any) -> Any:
    """Unit intervals (or points) of each interval, ``per`` a quantity of the point's unit."""
    if intervals is None:
        return None
    if isinstance(intervals, Interval):
        intervals = [intervals]
    points: list[Any] = []
    for item in iv.collapse(intervals) or []:
        start, end = item.start(), item.end()
        if start is None or end is None:
            continue
        if isinstance(start, CqlDateTime):
            step = per if per is not None else Quantity(1, "day")
            current: Any = start
            while current is not None and ops.compare(current, end) in (-1, 0):
                points.append(Interval(current, current))
                if len(points) > 100_000:
                    break
                current = ops.add(current, step)
        else:
            width = per.value if isinstance(per, Quantity) else (per or 1)
            value = start
            while value <= end and len(points) <= 100_000:
                points.append(Interval(value, value))
                value += width
    return points


@handler("Expand")
def expand(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    args = compiler.operands(node, lib)
    per = args[1] if len(args) > 1 else None

    def fn(ctx: Context, env: Env) -> Any:
        return _expand(args[0](ctx, env), per(ctx, env) if per else None)

    return fn


@handler("Collapse")
def collapse(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    args = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return iv.collapse(args[0](ctx, env))

    return fn
