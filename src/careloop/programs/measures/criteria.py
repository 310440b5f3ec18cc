"""The measure definition language: YAML criteria compiled once into Python closures.

A criterion is a mapping with one of these keys (see docs/measures.md for the full grammar):

- ``all: [...]`` / ``any: [...]`` / ``not: {...}``: logic;
- ``ref: name``: another definition of the measure or of the shared library;
- ``age: {at: start|end, min: N, max: N}`` and ``sex: female``: demographics;
- ``exists: <retrieve>`` (optionally ``count_min: N``): the patient has a matching resource;
- ``python: name``: a named Python criterion, for what the language cannot say;
- ``outreach: true`` next to any of the above: the criterion is treated as met in outreach
  mode (the qualifying-visit requirement that a care-gap program must not impose).

A retrieve names a resource type, codes by value set or direct-reference code, a status
profile from the Status library, value and qualifier filters, and a timing relation of one of
its timing fields to a window relative to the measurement period. Names and references are
resolved at compile time; evaluation only runs the closures.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from careloop.errors import InvalidInput
from careloop.programs.measures.fields import FIELDS, POINT_FIELDS
from careloop.programs.measures.record import (
    PatientRecord,
    Resource,
    concept_in,
    derived_timing,
)
from careloop.programs.measures.retrieve import CompiledRetrieve, Filter, WindowOf
from careloop.programs.measures.row_tests import (
    STATUS_COLUMN_TYPES,
    RowTest,
    status_row_test,
    timing_row_test,
)
from careloop.programs.measures.timing import (
    POINT_RELATIONS,
    RELATIONS,
    TimingWindow,
    age_in_years,
    compile_anchor,
    latest,
)
from careloop.programs.measures.valuesets import CodeSet
from careloop.records.fact_columns import FactRow


@dataclass(slots=True)
class Context:
    """One patient evaluated for one measurement period; memoises definitions by name."""

    record: PatientRecord
    start: datetime
    end: datetime
    outreach: bool = False
    memo: dict[str, Any] = field(default_factory=dict)

    def age_at(self, which: str) -> int | None:
        birth = self.record.birth_date
        if birth is None:
            return None
        return age_in_years(birth, (self.start if which == "start" else self.end).date())


Predicate = Callable[[Context], bool]
Retrieve = Callable[[Context], list[Resource]]
PythonCriterion = Callable[["Library"], Predicate]

OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
_FINAL = ("final", "amended", "corrected")
_ORDERED = ("active", "completed")
_ENCOUNTER_PERFORMED = ("finished", "arrived", "triaged", "in-progress", "onleave")
# The Status library (Status 1.8.000): (allowed statuses, required intent, required category).
STATUS_PROFILES: dict[str, tuple[tuple[str, ...], str | None, str | None]] = {
    "assessment_performed": (_FINAL, None, "survey"),
    "device_order": (_ORDERED, "order", None),
    "diagnostic_study_order": (_ORDERED, "order", None),
    "intervention_order": (_ORDERED, "order", None),
    "laboratory_test_order": (_ORDERED, "order", None),
    "diagnostic_study_performed": (_FINAL, None, None),
    "encounter_performed": (
        ("finished", "arrived", "triaged", "in-progress", "onleave"),
        None,
        None,
    ),
    "immunization_administered": (("completed",), None, None),
    "intervention_performed": (("completed",), None, None),
    "procedure_performed": (("completed",), None, None),
    "laboratory_test_performed": (_FINAL, None, "laboratory"),
    "medication_active": (("active",), "order", None),
    "medication_dispensed": (("completed", "in-progress", "on-hold"), None, None),
    "medication_order": (_ORDERED, "order", None),
    "physical_exam_performed": (_FINAL, None, "exam"),
    "observation_bp": (_FINAL, None, None),
    "symptom": (("preliminary", "final", "amended", "corrected"), None, None),
}
RETRIEVE_KEYS = frozenset(
    {
        "resource", "valueset", "code", "filter", "status", "value", "body_site",
        "discharge_disposition", "do_not_perform", "category", "when", "age_at_event",
    }
)  # fmt: skip
DO_NOT_PERFORM = "http://hl7.org/fhir/us/qicore/StructureDefinition/qicore-doNotPerform"


@dataclass(kw_only=True, eq=False)
class Library:
    """Names a definition may use: value sets, codes, definitions and Python criteria.

    Compiled predicates and retrieves are kept per library (identity, not value, equality:
    two libraries with the same names are still compiled apart)."""

    name: str
    valuesets: dict[str, CodeSet]
    codes: dict[str, CodeSet]
    definitions: dict[str, Any]
    python: dict[str, PythonCriterion]
    parent: Library | None = None
    _compiled: dict[str, Predicate] = field(default_factory=dict, init=False, repr=False)
    _retrieves: dict[str, Retrieve] = field(default_factory=dict, init=False, repr=False)

    def codeset(self, name: str) -> CodeSet:
        if name in self.valuesets:
            return self.valuesets[name]
        if name in self.codes:
            return self.codes[name]
        if self.parent is not None:
            return self.parent.codeset(name)
        raise InvalidInput(f"unknown value set or code {name!r}", field="definition")

    def all_codes(self) -> frozenset[str]:
        """Every code of this library's value sets and codes, and its parents'."""
        codes: set[str] = set()
        library: Library | None = self
        while library is not None:
            for code_set in (*library.valuesets.values(), *library.codes.values()):
                codes.update(code for _, code in code_set)
            library = library.parent
        return frozenset(codes)

    def predicate(self, name: str) -> Predicate:
        if name in self._compiled:
            return self._compiled[name]
        key = f"{self.name}:{name}"
        if name in self.definitions:
            body = self.definitions[name]
            if isinstance(body, dict) and "retrieve" in body:
                found = self.retrieve(name)
                compiled: Predicate = memo_predicate(key, lambda ctx: bool(found(ctx)))
            else:
                compiled = memo_predicate(key, compile_criterion(body, self))
            self._compiled[name] = compiled
            return compiled
        if name in self.python:
            made = self._compiled[name] = memo_predicate(key, self.python[name](self))
            return made
        if self.parent is not None:
            return self.parent.predicate(name)
        raise InvalidInput(f"unknown definition {name!r}", field="definition")

    def retrieve(self, name: str) -> Retrieve:
        """A named ``retrieve:`` definition as a list-valued function (memoised)."""
        if name in self._retrieves:
            return self._retrieves[name]
        body = self.definitions.get(name)
        if not (isinstance(body, dict) and "retrieve" in body):
            if self.parent is not None:
                return self.parent.retrieve(name)
            raise InvalidInput(f"{name!r} is not a retrieve definition", field="definition")
        inner = compile_retrieve(body["retrieve"], self)
        made = self._retrieves[name] = memo_retrieve(f"{self.name}:list:{name}", inner)
        return made


def memo_retrieve(key: str, inner: Retrieve) -> Retrieve:
    """``inner`` computed once per patient evaluation (its Context), under ``key``: a
    retrieve named in several definitions is one scan of the record."""

    def memoised(ctx: Context) -> list[Resource]:
        if key not in ctx.memo:
            ctx.memo[key] = inner(ctx)
        result: list[Resource] = ctx.memo[key]
        return result

    return memoised


def memo_predicate(name: str, inner: Predicate) -> Predicate:
    """``inner`` computed once per patient evaluation (its Context), under ``name``."""

    def memoised(ctx: Context) -> bool:
        value = ctx.memo.get(name)
        if value is None:
            value = ctx.memo[name] = inner(ctx)
        return bool(value)

    return memoised


def compile_criterion(node: Any, lib: Library) -> Predicate:
    """Compile one criterion mapping (see the module docstring) into a predicate."""
    if not isinstance(node, dict):
        raise InvalidInput(f"a criterion must be a mapping, got {node!r}", field="definition")
    outreach_met = bool(node.get("outreach", False))
    inner = _compile_core(node, lib)
    if outreach_met:
        return lambda ctx: True if ctx.outreach else inner(ctx)
    return inner


def _compile_core(node: dict[str, Any], lib: Library) -> Predicate:
    if "all" in node:
        return all_of([compile_criterion(item, lib) for item in node["all"]])
    if "any" in node:
        return any_of([compile_criterion(item, lib) for item in node["any"]])
    if "not" in node:
        negated = compile_criterion(node["not"], lib)
        return lambda ctx: not negated(ctx)
    if "ref" in node:
        name = str(node["ref"])
        return late_predicate(lambda: lib.predicate(name))
    if "python" in node:
        return lib.predicate(str(node["python"]))
    if "age" in node:
        return _compile_age(node["age"])
    if "sex" in node:
        wanted = str(node["sex"])
        return lambda ctx: ctx.record.gender == wanted
    if "exists" in node:
        spec = node["exists"]
        found = lib.retrieve(spec) if isinstance(spec, str) else compile_retrieve(spec, lib)
        return exists_test(found, int(node.get("count_min", 1)))
    raise InvalidInput(f"unknown criterion {sorted(node)}", field="definition")


def late_predicate(resolve: Callable[[], Predicate]) -> Predicate:
    """A reference to a definition, resolved at its first evaluation (it may be compiled
    after the one referring to it) and kept: a library's compiled predicates never change,
    and resolving by name on every evaluation was a few lookups per patient and reference."""
    resolved: list[Predicate] = []

    def reference(ctx: Context) -> bool:
        if not resolved:
            resolved.append(resolve())
        return resolved[0](ctx)

    return reference


def exists_test(found: Retrieve, minimum: int) -> Predicate:
    """``exists``: at least ``minimum`` resources found; one is decided without the list
    when the retrieve is compiled here (:meth:`CompiledRetrieve.any`)."""
    if minimum == 1 and isinstance(found, CompiledRetrieve):
        return found.any
    return lambda ctx: len(found(ctx)) >= minimum


def all_of(parts: list[Predicate]) -> Predicate:
    """``all(part(ctx) for part in parts)`` without a generator per evaluation."""

    def every(ctx: Context) -> bool:
        for part in parts:  # noqa: SIM110 (a generator per call is what this avoids)
            if not part(ctx):
                return False
        return True

    return every


def any_of(parts: list[Predicate]) -> Predicate:
    """``any(part(ctx) for part in parts)`` without a generator per evaluation."""

    def some(ctx: Context) -> bool:
        for part in parts:  # noqa: SIM110 (a generator per call is what this avoids)
            if part(ctx):
                return True
        return False

    return some


def _compile_age(spec: dict[str, Any]) -> Predicate:
    which = str(spec.get("at", "end"))
    low = spec.get("min")
    high = spec.get("max")

    def check(ctx: Context) -> bool:
        age = ctx.age_at(which)
        if age is None:
            return False
        return (low is None or age >= low) and (high is None or age <= high)

    return check


def _names(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def compile_retrieve(spec: dict[str, Any], lib: Library) -> Retrieve:
    """Compile a retrieve: type + codes, then filters in cheapest-first order."""
    if "union" in spec:
        parts = [compile_retrieve(item, lib) for item in spec["union"]]

        def union(ctx: Context) -> list[Resource]:
            found: dict[int, Resource] = {}
            for part in parts:
                for resource in part(ctx):
                    found.setdefault(id(resource), resource)
            return list(found.values())

        return union
    unknown = set(spec) - RETRIEVE_KEYS
    if unknown:
        raise InvalidInput(f"unknown retrieve keys {sorted(unknown)}", field="definition")
    rtype = str(spec["resource"])
    names = _names(spec.get("valueset")) + _names(spec.get("code"))
    codes: CodeSet = frozenset().union(*(lib.codeset(n) for n in names)) if names else frozenset()
    filters: list[Filter] = []
    status_tests: list[Callable[[FactRow], bool]] = []
    timing_tests: list[tuple[RowTest, WindowOf]] = []

    profile = spec.get("filter")
    if profile is not None:
        if profile not in STATUS_PROFILES:
            raise InvalidInput(f"unknown status filter {profile!r}", field="definition")
        filters.extend(_status_filters(*STATUS_PROFILES[profile]))
        status_tests.append(status_row_test(frozenset(STATUS_PROFILES[profile][0])))
    if "status" in spec:
        allowed = frozenset(_names(spec["status"]))
        filters.append(lambda r, _c: r.get("status") in allowed)
        status_tests.append(status_row_test(allowed))
    if "value" in spec:
        filters.append(_value_filter(spec["value"], lib))
    if "body_site" in spec:
        site = lib.codeset(str(spec["body_site"]))
        filters.append(lambda r, _c: concept_in(r.get("bodySite"), site))
    if "discharge_disposition" in spec:
        dispositions = frozenset().union(
            *(lib.codeset(n) for n in _names(spec["discharge_disposition"]))
        )
        filters.append(
            lambda r, _c: concept_in(
                (r.get("hospitalization") or {}).get("dischargeDisposition"), dispositions
            )
        )
    if spec.get("do_not_perform") is False:
        filters.append(lambda r, _c: not _do_not_perform(r))
    if "category" in spec:
        category = lib.codeset(str(spec["category"]))
        filters.append(lambda r, _c: concept_in(r.get("category"), category))
    if "when" in spec:
        check, window_of = _timing_filter(spec["when"])
        filters.append(check)
        row_test = timing_row_test(
            rtype, str(spec["when"].get("field")), str(spec["when"].get("relation"))
        )
        if row_test is not None:
            timing_tests.append((row_test, window_of))
    if "age_at_event" in spec:
        filters.append(_age_at_event_filter(spec["age_at_event"]))
    # Status alone (no intent, category or other filter): on a type whose status column is
    # the resource's required ``status``, the row test is the filter itself.
    exact = (
        bool(status_tests) and len(filters) == len(status_tests) and rtype in STATUS_COLUMN_TYPES
    )
    return CompiledRetrieve(rtype, codes, filters, status_tests, timing_tests, exact=exact)


def _status_filters(
    statuses: tuple[str, ...], intent: str | None, category: str | None
) -> list[Callable[[Resource, Context], bool]]:
    allowed = frozenset(statuses)
    result: list[Callable[[Resource, Context], bool]] = [lambda r, _c: r.get("status") in allowed]
    if intent is not None:
        result.append(lambda r, _c: r.get("intent") == intent)
    if category is not None:
        wanted = frozenset({(OBSERVATION_CATEGORY, category)})
        result.append(lambda r, _c: concept_in(r.get("category"), wanted))
    return result


def _do_not_perform(resource: Resource) -> bool:
    for ext in resource.get("modifierExtension", ()):
        if ext.get("url") == DO_NOT_PERFORM:
            return ext.get("valueBoolean") is True
    return False


def _value_filter(spec: Any, lib: Library) -> Callable[[Resource, Context], bool]:
    if spec == "present":
        return lambda r, _c: any(k.startswith("value") for k in r)
    if isinstance(spec, dict) and ("in" in spec or "is" in spec):
        codes = lib.codeset(str(spec.get("in", spec.get("is"))))
        return lambda r, _c: concept_in(r.get("valueCodeableConcept"), codes)
    raise InvalidInput(f"bad value filter {spec!r}", field="definition")


def _timing_filter(
    spec: dict[str, Any],
) -> tuple[Callable[[Resource, Context], bool], WindowOf]:
    """The filter of a ``when`` and its window in seconds (what ``row_tests`` compare)."""
    field_name = str(spec.get("field"))
    relation_name = str(spec.get("relation"))
    if field_name not in FIELDS:
        raise InvalidInput(f"unknown timing field {field_name!r}", field="definition")
    if relation_name not in RELATIONS:
        raise InvalidInput(f"unknown timing relation {relation_name!r}", field="definition")
    extract = FIELDS[field_name]
    relation = RELATIONS[relation_name]
    if field_name in POINT_FIELDS:
        relation = POINT_RELATIONS.get(relation_name, relation)
    window = spec.get("window", ["start", "end"])
    if isinstance(window, str):
        window = [window, window]
    timing = TimingWindow(
        compile_anchor(window[0]),
        compile_anchor(window[1]),
        high_open=bool(spec.get("window_open_end", False)),
    )
    what = f"timing:{field_name}"

    def check(resource: Resource, ctx: Context) -> bool:
        low, high = timing.window(ctx.start, ctx.end)
        found = derived_timing(ctx.record, resource, what, extract)
        return relation(found, low, high)

    return check, timing.seconds


def _age_at_event_filter(spec: dict[str, Any]) -> Callable[[Resource, Context], bool]:
    minimum = int(spec["min"])

    def check(resource: Resource, ctx: Context) -> bool:
        birth: date | None = ctx.record.birth_date
        moment = latest(FIELDS["effective"](resource, birth))
        return (
            birth is not None
            and moment is not None
            and (age_in_years(birth, moment.date()) >= minimum)
        )

    return check
