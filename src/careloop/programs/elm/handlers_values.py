"""Literals and value constructors: Literal, List, Interval, DateTime, Quantity, Tuple, Code..."""

from __future__ import annotations

from typing import Any

from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmLibrary,
    ElmUnsupported,
    Env,
    Fn,
    Node,
    constant,
    handler,
)
from careloop.programs.elm.cqltime import (
    MAX_DATE,
    MAX_DATETIME,
    MIN_DATE,
    MIN_DATETIME,
    CqlDateTime,
)
from careloop.programs.elm.fhir import SYSTEM, local_name
from careloop.programs.elm.values import Code, Concept, Interval, Quantity, Ratio


def literal_value(node: Node) -> Any:
    kind = str(node.get("valueType", ""))
    raw = node.get("value")
    if raw is None:
        return None
    name = kind[len(SYSTEM) :] if kind.startswith(SYSTEM) else kind
    if name == "Boolean":
        return str(raw).lower() == "true"
    if name == "Integer":
        return int(raw)
    if name in ("Decimal", "Long"):
        return float(raw)
    if name == "String":
        return str(raw)
    if name == "DateTime":
        return CqlDateTime.parse(str(raw).lstrip("@"))
    if name == "Date":
        return CqlDateTime.parse(str(raw).lstrip("@"), is_date=True)
    raise ElmUnsupported(f"literal of type {kind} is not supported")


@handler("Literal")
def literal(_c: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    return constant(literal_value(node))


@handler("Null")
def null(_c: Compiler, _node: Node, _lib: ElmLibrary) -> Fn:
    return constant(None)


@handler("List")
def list_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    elements = [compiler.compile(e, lib) for e in node.get("element") or []]

    def fn(ctx: Context, env: Env) -> Any:
        return [e(ctx, env) for e in elements]

    return fn


@handler("Interval")
def interval(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    low = compiler.compile(node.get("low"), lib)
    high = compiler.compile(node.get("high"), lib)
    if "lowClosedExpression" in node or "highClosedExpression" in node:
        low_closed_fn = compiler.compile(node.get("lowClosedExpression"), lib)
        high_closed_fn = compiler.compile(node.get("highClosedExpression"), lib)

        def dynamic(ctx: Context, env: Env) -> Any:
            return Interval(
                low(ctx, env),
                high(ctx, env),
                low_closed_fn(ctx, env) is not False,
                high_closed_fn(ctx, env) is not False,
            )

        return dynamic
    low_closed = bool(node.get("lowClosed", True))
    high_closed = bool(node.get("highClosed", True))

    def fn(ctx: Context, env: Env) -> Any:
        return Interval(low(ctx, env), high(ctx, env), low_closed, high_closed)

    return fn


_COMPONENTS = ("year", "month", "day", "hour", "minute", "second", "millisecond")


@handler("DateTime", "Date")
def datetime_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    is_date = node["type"] == "Date"
    parts = [
        compiler.compile(node.get(name), lib) if name in node else None for name in _COMPONENTS
    ]
    offset = compiler.compile(node["timezoneOffset"], lib) if "timezoneOffset" in node else None

    def fn(ctx: Context, env: Env) -> Any:
        values = [p(ctx, env) if p is not None else None for p in parts]
        hours = offset(ctx, env) if offset is not None else 0.0
        return CqlDateTime.build(values, offset_hours=hours or 0.0, is_date=is_date)

    return fn


@handler("Quantity")
def quantity(_c: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    value = node.get("value")
    return constant(None if value is None else Quantity(float(value), str(node.get("unit", "1"))))


@handler("Ratio")
def ratio(_c: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    def part(q: Node) -> Quantity:
        return Quantity(float(q["value"]), str(q.get("unit", "1")))

    return constant(Ratio(part(node["numerator"]), part(node["denominator"])))


@handler("Tuple")
def tuple_(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    elements = [(str(e["name"]), compiler.compile(e["value"], lib)) for e in node["element"]]

    def fn(ctx: Context, env: Env) -> Any:
        return {name: value(ctx, env) for name, value in elements}

    return fn


def _build_instance(kind: str, values: dict[str, Any]) -> Any:
    if kind == "Code":
        return Code(
            code=values.get("code"),
            system=values.get("system"),
            version=values.get("version"),
            display=values.get("display"),
        )
    if kind == "Concept":
        return Concept(codes=tuple(values.get("codes") or ()), display=values.get("display"))
    if kind == "Quantity":
        value = values.get("value")
        return None if value is None else Quantity(float(value), values.get("unit") or "1")
    if kind == "Ratio":
        return Ratio(values["numerator"], values["denominator"])
    return values


@handler("Instance")
def instance(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    class_type = str(node["classType"])
    kind = local_name(class_type) if class_type.startswith(SYSTEM) else "FHIR"
    elements = [(str(e["name"]), compiler.compile(e["value"], lib)) for e in node["element"]]

    def fn(ctx: Context, env: Env) -> Any:
        return _build_instance(kind, {name: value(ctx, env) for name, value in elements})

    return fn


@handler("Code")
def code(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    system_ref = node.get("system") or {}
    system = compiler.target(lib, system_ref).codesystems.get(str(system_ref.get("name")))
    return constant(Code(code=str(node["code"]), system=system, display=node.get("display")))


@handler("Concept")
def concept(compiler: Compiler, node: Node, lib: ElmLibrary) -> Fn:
    codes = [compiler.compile(c, lib) for c in node.get("code") or []]
    display = node.get("display")

    def fn(ctx: Context, env: Env) -> Any:
        return Concept(codes=tuple(c(ctx, env) for c in codes), display=display)

    return fn


_EXTREMES = {
    "DateTime": (MIN_DATETIME, MAX_DATETIME),
    "Date": (MIN_DATE, MAX_DATE),
    "Integer": (-(2**31), 2**31 - 1),
    "Decimal": (-1e28, 1e28),
}


@handler("MinValue", "MaxValue")
def extreme(_c: Compiler, node: Node, _lib: ElmLibrary) -> Fn:
    name = local_name(str(node["valueType"]))
    if name not in _EXTREMES:
        raise ElmUnsupported(f"{node['type']} of {name} is not supported")
    low, high = _EXTREMES[name]
    return constant(low if node["type"] == "MinValue" else high)
