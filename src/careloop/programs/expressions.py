"""Program criteria: the measures' definition language, with the few words outreach needs.

Programs reuse the measure language (``measures.criteria``: ``all``/``any``/``not``, ``ref``,
``age``, ``sex``, ``exists`` with retrieves by value set and timing relative to the window,
``python``) and the measures' shared definitions (``has_hospice_services`` ...). The window is
the program's period: ``start``/``end`` in a ``when`` are its first and last moment (the
as-of date for rolling programs). Three additions, compiled here:

- ``latest: {of: <retrieve>, value|component: ..., above|at_least|below|at_most: N, as: x}``
  — compare the most recent matching result ("last HbA1c > 9 %"); ``as`` names it so a gap's
  reason can say ``{x.value:g}`` and ``{x.date}``;
- ``age_months: {min: N, max: N}`` — age in whole months at the end of the window;
- the timing fields ``occurrence`` (``Immunization.occurrence[x]``) and ``response_authored``
  (``QuestionnaireResponse.authored``) in a retrieve's ``when``.

Everything is compiled once per program into closures; evaluation never re-parses.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from careloop.errors import InvalidInput
from careloop.programs.measures.criteria import (
    Context,
    Library,
    Predicate,
    Retrieve,
    all_of,
    any_of,
    compile_criterion,
    compile_retrieve,
    exists_test,
    late_predicate,
    memo_predicate,
    memo_retrieve,
)
from careloop.programs.measures.custom import PYTHON_CRITERIA
from careloop.programs.measures.definition import all_measures
from careloop.programs.measures.fields import FIELDS
from careloop.programs.measures.record import Resource, codings, derived_timing
from careloop.programs.measures.retrieve import CompiledRetrieve, WindowOf
from careloop.programs.measures.row_tests import timing_row_test
from careloop.programs.measures.timing import (
    RELATIONS,
    Interval,
    TimingWindow,
    choice_interval,
    compile_anchor,
    latest,
    point,
)
from careloop.programs.measures.valuesets import CodeSet
from careloop.programs.valuesets import SYSTEMS, parse_codes, program_valueset


def occurrence(resource: Resource, birth: date | None) -> Interval | None:
    return choice_interval(resource, "occurrence", birth)


def response_authored(resource: Resource, _birth: date | None) -> Interval | None:
    moment = point(resource.get("authored"))
    return (moment, moment) if moment is not None else None


EXTRA_FIELDS: dict[str, Callable[[Resource, date | None], Interval | None]] = {
    "occurrence": occurrence,
    "response_authored": response_authored,
}
# The clinically relevant time of each resource type ("most recent", "recorded after").
TIME_FIELD = {
    "Observation": "effective",
    "DiagnosticReport": "effective",
    "Procedure": "performed",
    "Immunization": "occurrence",
    "Encounter": "period",
    "Condition": "prevalence",
    "MedicationRequest": "authored",
    "CarePlan": "period",
    "QuestionnaireResponse": "response_authored",
}
_COMPARATORS: dict[str, Callable[[float, float], bool]] = {
    "above": lambda value, limit: value > limit,
    "at_least": lambda value, limit: value >= limit,
    "below": lambda value, limit: value < limit,
    "at_most": lambda value, limit: value <= limit,
}


def time_of(field: str) -> Callable[[Resource, date | None], Interval | None]:
    extract = EXTRA_FIELDS.get(field) or FIELDS.get(field)
    if extract is None:
        raise InvalidInput(f"unknown timing field {field!r}", field="when")
    return extract


@dataclass(frozen=True, slots=True)
class Reading:
    """The most recent result a ``latest`` criterion looked at (for a gap's reason)."""

    date: str
    value: float | None
    unit: str


@lru_cache(maxsize=1)
def common_library() -> Library:
    """The measures' shared library (Hospice, PalliativeCare, ... as named definitions)."""
    parent = all_measures()[0].library.parent
    if parent is None:  # pragma: no cover - the measures always have the common parent
        raise InvalidInput("measure library without common definitions", field="definition")
    return parent


class ProgramLibrary:
    """Names one program may use, and its compiled definitions and named readings."""

    def __init__(
        self,
        *,
        name: str,
        valuesets: dict[str, str],
        codes: dict[str, str],
        define: dict[str, Any],
        parent: Library | None = None,
    ) -> None:
        self.name = name
        self.lib = Library(
            name=f"program:{name}",
            valuesets={k: program_valueset(v) for k, v in valuesets.items()},
            codes={
                k: parse_codes([v], systems=SYSTEMS, field=f"codes.{k}") for k, v in codes.items()
            },
            definitions={},
            python=PYTHON_CRITERIA,
            parent=parent or common_library(),
        )
        self.define = define
        self.readings: dict[str, Callable[[Context], Reading | None]] = {}
        self._predicates: dict[str, Predicate] = {}
        self._retrieves: dict[str, Retrieve] = {}

    def codeset(self, name: str) -> CodeSet:
        return self.lib.codeset(name)

    def all_codes(self) -> frozenset[str]:
        """Every code this program may retrieve by (to load only those resources)."""
        return self.lib.all_codes()

    # -- definitions ---------------------------------------------------------------------------

    def predicate(self, name: str) -> Predicate:
        if name in self._predicates:
            return self._predicates[name]
        body = self.define.get(name)
        if body is None:
            return self.lib.predicate(name)  # a shared definition (raises if unknown)
        if isinstance(body, dict) and "retrieve" in body:
            found = self.retrieve(name)
            inner: Predicate = lambda ctx: bool(found(ctx))  # noqa: E731
        else:
            inner = self.compile(body)
        made = self._predicates[name] = memo_predicate(f"program:{self.name}:{name}", inner)
        return made

    def retrieve(self, name: str) -> Retrieve:
        if name in self._retrieves:
            return self._retrieves[name]
        body = self.define.get(name)
        if body is None:
            return self.lib.retrieve(name)
        if not (isinstance(body, dict) and "retrieve" in body):
            raise InvalidInput(f"{name!r} is not a retrieve definition", field="define")
        made = self._retrieves[name] = memo_retrieve(
            f"program:{self.name}:list:{name}", self.compile_retrieve(body["retrieve"])
        )
        return made

    # -- compilation ---------------------------------------------------------------------------

    def compile(self, node: Any) -> Predicate:
        """A criterion (see the module docstring) as a predicate over a measure Context."""
        if not isinstance(node, dict):
            raise InvalidInput(f"a criterion must be a mapping, got {node!r}", field="criteria")
        if "all" in node:
            return all_of([self.compile(item) for item in _as_list(node["all"], "all")])
        if "any" in node:
            return any_of([self.compile(item) for item in _as_list(node["any"], "any")])
        if "not" in node:
            negated = self.compile(node["not"])
            return lambda ctx: not negated(ctx)
        if "ref" in node:
            name = str(node["ref"])
            self.predicate(name)  # unknown names fail now, not at evaluation
            return late_predicate(lambda: self.predicate(name))
        if "exists" in node:
            spec = node["exists"]
            found = self.retrieve(spec) if isinstance(spec, str) else self.compile_retrieve(spec)
            return exists_test(found, int(node.get("count_min", 1)))
        if "latest" in node:
            return self._compile_latest(node["latest"])
        if "age_months" in node:
            return _compile_age_months(node["age_months"])
        return compile_criterion(node, self.lib)

    def compile_retrieve(self, spec: Any) -> Retrieve:
        """A measure-language retrieve, plus program timing fields (``occurrence``)."""
        if not isinstance(spec, dict):
            raise InvalidInput(f"a retrieve must be a mapping, got {spec!r}", field="criteria")
        when = spec.get("when")
        if not (isinstance(when, dict) and when.get("field") in EXTRA_FIELDS):
            return compile_retrieve(spec, self.lib)
        base = compile_retrieve({k: v for k, v in spec.items() if k != "when"}, self.lib)
        timing, window_of = timing_filter(when)
        if not isinstance(base, CompiledRetrieve):  # a union
            return lambda ctx: [r for r in base(ctx) if timing(r, ctx)]
        # Still a compiled retrieve: ``exists`` stops at the first kept resource, and rows
        # the columns place before the window (a flu shot of an earlier season) are refused
        # undecoded (``measures.row_tests``).
        row_test = timing_row_test(
            base.rtype, str(when.get("field")), str(when.get("relation", "during_day"))
        )
        return base.filtered(timing, row_test, window_of)

    def _compile_latest(self, spec: Any) -> Predicate:
        if not isinstance(spec, dict) or "of" not in spec:
            raise InvalidInput("latest needs 'of: <retrieve>'", field="latest")
        source = spec["of"]
        found = self.retrieve(source) if isinstance(source, str) else self.compile_retrieve(source)
        comparisons = [(name, float(spec[name])) for name in _COMPARATORS if name in spec]
        if len(comparisons) != 1:
            raise InvalidInput(
                f"latest needs exactly one of {sorted(_COMPARATORS)}", field="latest"
            )
        compare, limit = _COMPARATORS[comparisons[0][0]], comparisons[0][1]
        component = (
            parse_codes([str(spec["component"])], systems=SYSTEMS, field="latest.component")
            if "component" in spec
            else None
        )
        unit = spec.get("unit")
        reading = _reading_function(found, component)
        if "as" in spec:
            self.readings[str(spec["as"])] = reading

        def check(ctx: Context) -> bool:
            last = reading(ctx)
            if last is None or last.value is None:
                return False
            if unit is not None and last.unit != unit:
                return False
            return compare(last.value, limit)

        return check


def _as_list(value: Any, key: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"'{key}' needs a list", field="criteria")
    return value


def _compile_age_months(spec: Any) -> Predicate:
    if not isinstance(spec, dict) or not ({"min", "max"} & set(spec)):
        raise InvalidInput("age_months needs min and/or max", field="age_months")
    low, high = spec.get("min"), spec.get("max")

    def check(ctx: Context) -> bool:
        birth = ctx.record.birth_date
        if birth is None:
            return False
        on = ctx.end.date()
        months = (on.year - birth.year) * 12 + on.month - birth.month - (on.day < birth.day)
        return (low is None or months >= low) and (high is None or months <= high)

    return check


def timing_filter(spec: dict[str, Any]) -> tuple[Callable[[Resource, Context], bool], WindowOf]:
    """A ``when: {field, relation, window}`` test of one resource (program fields included),
    and its window as POSIX seconds (what ``measures.row_tests`` compare)."""
    extract = time_of(str(spec.get("field")))
    what = f"timing:{spec.get('field')}"
    relation = RELATIONS.get(str(spec.get("relation", "during_day")))
    if relation is None:
        raise InvalidInput(f"unknown timing relation {spec.get('relation')!r}", field="when")
    window = spec.get("window", ["start", "end"])
    if isinstance(window, str):
        window = [window, window]
    # The window once per measurement period, not once per resource tested (bounded).
    timing = TimingWindow(compile_anchor(window[0]), compile_anchor(window[1]), high_open=False)

    def check(resource: Resource, ctx: Context) -> bool:
        low, high = timing.window(ctx.start, ctx.end)
        found = derived_timing(ctx.record, resource, what, extract)
        return relation(found, low, high)

    return check, timing.seconds


def _quantity(holder: dict[str, Any]) -> tuple[float | None, str]:
    quantity = holder.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        return None, ""
    return float(quantity["value"]), str(quantity.get("unit") or quantity.get("code") or "")


def _reading_function(
    found: Retrieve, component: CodeSet | None
) -> Callable[[Context], Reading | None]:
    def moment(resource: Resource, ctx: Context) -> datetime | None:
        field = TIME_FIELD.get(str(resource.get("resourceType")), "effective")
        return latest(derived_timing(ctx.record, resource, f"timing:{field}", time_of(field)))

    def reading(ctx: Context) -> Reading | None:
        dated = [(when, r) for r in found(ctx) if (when := moment(r, ctx)) is not None]
        if not dated:
            return None
        when, last = max(dated, key=lambda pair: pair[0])
        holder: dict[str, Any] = last
        if component is not None:
            holder = next(
                (
                    c
                    for c in last.get("component", ())
                    if any(pair in component for pair in codings(c.get("code")))
                ),
                {},
            )
        value, unit = _quantity(holder)
        return Reading(date=when.date().isoformat(), value=value, unit=unit)

    return reading


READING_FIELDS = frozenset({"date", "value", "unit"})


def reason_fields(template: str, *, readings: set[str] | frozenset[str] = frozenset()) -> set[str]:
    """The names a reason template uses (``{a1c.value:g}`` -> ``a1c``).

    A reading's attribute must be one a :class:`Reading` has; a bad one is returned whole
    (``a1c.day``) so the caller reports it as unknown.
    """
    names = set()
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise InvalidInput(f"bad reason template: {exc}", field="reason") from None
    for _, field_name, _, _ in parsed:
        if field_name:
            top, _, attribute = field_name.partition(".")
            top = top.split("[", 1)[0]
            bad = top in readings and attribute.split("[", 1)[0] not in READING_FIELDS
            names.add(field_name if bad else top)
    return names
