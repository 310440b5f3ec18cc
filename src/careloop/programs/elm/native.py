"""Python versions of the hottest FHIRHelpers conversions (same results, no ELM walk).

Every FHIR element conversion in QI-Core logic goes through FHIRHelpers (``ToInterval`` of a
Period, ``ToConcept`` of a CodeableConcept, ``ToString`` of a code...). They are simple and
called for every resource the logic reads, so they run as Python; every other FHIRHelpers
function (``ToQuantity`` with its unit checks, ``ToValue``...) runs from the published ELM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from careloop.programs.elm.compiler import Context, Env, Fn, Node
from careloop.programs.elm.cqltime import CqlDateTime
from careloop.programs.elm.values import Code, Concept, Interval, Typed

Factory = Callable[[list[Fn]], Fn]
FHIR = "{http://hl7.org/fhir}"


def _raw(value: Any) -> Any:
    return value.value if isinstance(value, Typed) else value


def _unary(convert: Callable[[Any], Any]) -> Factory:
    def factory(args: list[Fn]) -> Fn:
        arg = args[0]

        def fn(ctx: Context, env: Env) -> Any:
            return convert(_raw(arg(ctx, env)))

        return fn

    return factory


def _string(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _boolean(value: Any) -> Any:
    return value if isinstance(value, bool) else None


def _decimal(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _integer(value: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _datetime(value: Any) -> Any:
    return CqlDateTime.parse(value) if isinstance(value, str) else None


def _date(value: Any) -> Any:
    return CqlDateTime.parse(value, is_date=True) if isinstance(value, str) else None


def to_code(coding: Any) -> Code | None:
    if not isinstance(coding, dict):
        return None
    return Code(
        code=coding.get("code"),
        system=coding.get("system"),
        version=coding.get("version"),
        display=coding.get("display"),
    )


def to_concept(concept: Any) -> Concept | None:
    if not isinstance(concept, dict):
        return None
    codes = tuple(c for c in (to_code(item) for item in concept.get("coding") or []) if c)
    return Concept(codes=codes, display=concept.get("text"))


def to_interval_period(period: Any) -> Interval | None:
    """Period -> Interval: a missing start is unknown (open), a missing end unbounded."""
    if not isinstance(period, dict):
        return None
    start = _datetime(period.get("start"))
    end = _datetime(period.get("end"))
    if start is None:
        return Interval(None, end, low_closed=False, high_closed=True)
    return Interval(start, end, low_closed=True, high_closed=True)


_NATIVE: dict[tuple[str, str], Factory] = {
    ("ToBoolean", FHIR + "boolean"): _unary(_boolean),
    ("ToDecimal", FHIR + "decimal"): _unary(_decimal),
    ("ToInteger", FHIR + "integer"): _unary(_integer),
    ("ToInteger", FHIR + "positiveInt"): _unary(_integer),
    ("ToInteger", FHIR + "unsignedInt"): _unary(_integer),
    ("ToDateTime", FHIR + "dateTime"): _unary(_datetime),
    ("ToDateTime", FHIR + "instant"): _unary(_datetime),
    ("ToDate", FHIR + "date"): _unary(_date),
    ("ToCode", FHIR + "Coding"): _unary(to_code),
    ("ToConcept", FHIR + "CodeableConcept"): _unary(to_concept),
    ("ToInterval", FHIR + "Period"): _unary(to_interval_period),
}


def _extensions(key: str) -> Factory:
    def factory(args: list[Fn]) -> Fn:
        owner, url = args

        def fn(ctx: Context, env: Env) -> Any:
            element, wanted = _raw(owner(ctx, env)), url(ctx, env)
            if not isinstance(element, dict) or wanted is None:
                return []
            return [e for e in element.get(key) or [] if e.get("url") == wanted]

        return fn

    return factory


_EXTERNAL: dict[tuple[str, int], Factory] = {
    ("extension", 2): _extensions("extension"),
    ("modifierExtension", 2): _extensions("modifierExtension"),
    ("hasValue", 1): _unary(lambda v: v is not None),
    ("getValue", 1): _unary(lambda v: v),
}


def native_function(library: str, definition: Node) -> Factory | None:
    """A Python implementation of this FHIRHelpers overload, if there is one."""
    if library != "FHIRHelpers":
        return None
    operands = definition.get("operand") or []
    if definition.get("external"):
        return _EXTERNAL.get((str(definition["name"]), len(operands)))
    if len(operands) != 1:
        return None
    spec = operands[0].get("operandTypeSpecifier") or {}
    type_name = str(spec.get("name", ""))
    name = str(definition["name"])
    if name == "ToString" and type_name.startswith(FHIR):
        return _unary(_string)  # every FHIR string-valued primitive and code enumeration
    return _NATIVE.get((name, type_name))
