"""Type tests, casts and conversions: Is, As, ToDateTime, ToConcept, ConvertQuantity..."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmLibrary,
    ElmRuntimeError,
    ElmUnsupported,
    Env,
    Fn,
    Node,
    handler,
)
from careloop.programs.elm.cqltime import CqlDateTime
from careloop.programs.elm.fhir import SYSTEM, is_type
from careloop.programs.elm.handlers_ops import unary_op
from careloop.programs.elm.handlers_refs import type_key
from careloop.programs.elm.units import convert
from careloop.programs.elm.values import Code, Concept, Interval, Quantity, unwrap

TypeTest = Callable[[Any], "bool | None"]


def type_test(spec: Any) -> TypeTest:
    """A test for ``value is <spec>``: True/False, or None when FHIR JSON cannot tell."""
    if isinstance(spec, str):
        return lambda value: is_type(value, spec)
    if "choice" in spec:
        options = [type_test(o) for o in spec["choice"]]

        def any_of(value: Any) -> bool | None:
            outcome: bool | None = False
            for option in options:
                result = option(value)
                if result is True:
                    return True
                if result is None:
                    outcome = None
            return outcome

        return any_of
    kind = spec.get("type")
    if kind == "NamedTypeSpecifier":
        return type_test(str(spec["name"]))
    if kind == "IntervalTypeSpecifier":
        point = type_test(spec.get("pointType") or "?")

        def interval(value: Any) -> bool | None:
            if not isinstance(value, Interval):
                return False
            bounds = [b for b in (value.low, value.high) if b is not None]
            return all(point(b) is not False for b in bounds)

        return interval
    if kind == "ListTypeSpecifier":
        return lambda value: isinstance(value, list)
    if kind == "TupleTypeSpecifier":
        return lambda value: isinstance(value, dict) and "resourceType" not in value
    raise ElmUnsupported(f"type specifier {kind} is not supported")


def _spec(node: Node, attribute: str, specifier: str) -> Any:
    return str(node[attribute]) if attribute in node else node.get(specifier) or {}


@handler("Is")
def is_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    test = type_test(_spec(node, "isType", "isTypeSpecifier"))
    (arg,) = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return test(arg(ctx, env)) is True

    return fn


@handler("As")
def as_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    """A cast: the value when it is of the type (or cannot be told apart), else null."""
    spec = _spec(node, "asType", "asTypeSpecifier")
    test = type_test(spec)
    strict = bool(node.get("strict"))
    (arg,) = compiler.operands(node, lib)
    # A FHIR-typed cast keeps the value's FHIR type (``(value as dateTime).value`` converts).
    keep_type = (isinstance(spec, dict) and "choice" in spec) or not type_key(spec).startswith(
        SYSTEM
    )

    def fn(ctx: Context, env: Env) -> Any:
        value = arg(ctx, env)
        if value is None:
            return None
        if test(value) is False:
            if strict:
                raise ElmRuntimeError(f"value is not of type {type_key(spec)}")
            return None
        return value if keep_type else unwrap(value)

    return fn


def _to_string(value: Any) -> Any:
    value = unwrap(value)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, CqlDateTime):
        return value.isoformat()
    if isinstance(value, Quantity):
        return f"{value.value:g} '{value.unit}'"
    return str(value)


def _to_number(kind: type[float] | type[int]) -> Callable[[Any], Any]:
    """CQL's ToDecimal or ToInteger: null for null, a boolean or what does not parse."""

    def convert(value: Any) -> Any:
        value = unwrap(value)
        if value is None or isinstance(value, bool):
            return None
        try:
            return kind(value)
        except (TypeError, ValueError):
            return None

    return convert


_to_decimal = _to_number(float)
_to_integer = _to_number(int)


def _to_boolean(value: Any) -> Any:
    value = unwrap(value)
    if isinstance(value, bool) or value is None:
        return value
    text = str(value).strip().lower()
    if text in ("true", "t", "yes", "y", "1"):
        return True
    if text in ("false", "f", "no", "n", "0"):
        return False
    return None


def _to_moment(value: Any, *, is_date: bool) -> Any:
    """``ToDateTime`` / ``ToDate``: the one conversion, cut to a date when ``is_date``."""
    value = unwrap(value)
    if isinstance(value, CqlDateTime):
        return value.as_date() if is_date else value.as_datetime()
    if isinstance(value, str):
        return CqlDateTime.parse(value, is_date=is_date)
    return None


def _to_quantity(value: Any) -> Any:
    value = unwrap(value)
    if value is None or isinstance(value, Quantity):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return Quantity(float(value), "1")
    return None


def _to_concept(value: Any) -> Any:
    value = unwrap(value)
    if value is None or isinstance(value, Concept):
        return value
    if isinstance(value, Code):
        return Concept(codes=(value,), display=value.display)
    if isinstance(value, list):
        return Concept(codes=tuple(c for c in value if isinstance(c, Code)))
    return None


_CONVERSIONS: dict[str, Callable[[Any], Any]] = {
    "ToString": _to_string,
    "ToDecimal": _to_decimal,
    "ToInteger": _to_integer,
    "ToLong": _to_integer,
    "ToBoolean": _to_boolean,
    "ToDateTime": functools.partial(_to_moment, is_date=False),
    "ToDate": functools.partial(_to_moment, is_date=True),
    "ToQuantity": _to_quantity,
    "ToConcept": _to_concept,
}


@handler(*_CONVERSIONS)
def conversion(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    return unary_op(compiler, node, lib, _CONVERSIONS[str(node["type"])])


def _convert_quantity(value: Any, unit: Any) -> Any:
    if value is None or unit is None:
        return None
    converted = convert(value.value, value.unit, unit)
    return None if converted is None else Quantity(converted, unit)


@handler("ConvertQuantity")
def convert_quantity(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        return _convert_quantity(unwrap(left(ctx, env)), right(ctx, env))

    return fn


@handler("CanConvertQuantity")
def can_convert_quantity(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    left, right = compiler.operands(node, lib)

    def fn(ctx: Context, env: Env) -> Any:
        value, unit = unwrap(left(ctx, env)), right(ctx, env)
        if value is None or unit is None:
            return None
        return convert(value.value, value.unit, unit) is not None

    return fn
