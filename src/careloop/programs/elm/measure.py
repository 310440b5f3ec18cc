"""A loaded measure package, compiled: population results per group for one patient.

Patient-based groups (population basis ``boolean``) give 0/1 per population; episode-based
groups (basis ``Encounter``...) give the number of qualifying episodes, with the MeasureReport
rules applied to the episodes: the denominator within the initial population, exclusions
within the denominator, the numerator among those not excluded, exceptions among those
neither excluded nor in the numerator.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from careloop.errors import InvalidInput

# Registers every node handler with the compiler.
from careloop.programs.elm import (  # noqa: F401
    handlers_lists,
    handlers_ops,
    handlers_query,
    handlers_refs,
    handlers_time,
    handlers_types,
    handlers_values,
)
from careloop.programs.elm.compiler import (
    Compiler,
    Context,
    ElmRuntimeError,
    ElmUnsupported,
    Fn,
)
from careloop.programs.elm.cqltime import CqlDateTime
from careloop.programs.elm.outreach import outreach_package
from careloop.programs.elm.package import MeasurePackage
from careloop.programs.elm.values import Interval

# MeasureReport population codes, in the order a proportion measure is evaluated (the
# hand-written definitions in ``programs.measures`` use the same).
POPULATION_CODES = (
    "initial-population",
    "denominator",
    "denominator-exclusion",
    "denominator-exception",
    "numerator",
    "numerator-exclusion",
)
SUPPORTED_SCORING = frozenset({"proportion", "cohort"})
BASIS_URL = "http://hl7.org/fhir/us/cqfmeasures/StructureDefinition/cqfm-populationBasis"
NOTATION_URL = "http://hl7.org/fhir/us/cqfmeasures/StructureDefinition/cqfm-improvementNotation"
SCORING_URL = "http://hl7.org/fhir/us/cqfmeasures/StructureDefinition/cqfm-scoring"
PERIOD_PARAMETER = "Measurement Period"


@dataclass(frozen=True, slots=True)
class ElmGroup:
    populations: dict[str, Fn]
    criteria: dict[str, str]
    boolean_basis: bool


def _extension(element: dict[str, Any], url: str) -> Any:
    for ext in element.get("extension") or []:
        if ext.get("url") == url:
            return ext.get("valueCode") or ext.get("valueCodeableConcept")
    return None


def _scoring(measure: dict[str, Any], group: dict[str, Any]) -> str:
    value = _extension(group, SCORING_URL) or measure.get("scoring") or {}
    codings = value.get("coding") if isinstance(value, dict) else None
    return str(codings[0].get("code")) if codings else "proportion"


class ElmMeasure:
    """A measure executed from its published ELM (see docs/measures.md, "Package loader")."""

    engine = "elm"

    def __init__(self, package: MeasurePackage) -> None:
        self.package = package
        # What outreach mode treats as met (set on the outreach variant, see ``outreach``).
        self.outreach_dropped: tuple[str, ...] = ()
        self._outreach: ElmMeasure | None = None
        measure = package.measure
        self.name = package.name
        self.cms_id = package.cms_id or package.name
        self.title = str(measure.get("title") or self.name)
        self.version = package.version
        notation = measure.get("improvementNotation") or {}
        codes = [c.get("code") for c in notation.get("coding") or []]
        for group in measure.get("group") or []:  # QI-Core packages say it per group
            found = _extension(group, NOTATION_URL) or {}
            # MADiE exports write code "decrease" with display "increase" on every group,
            # CMS125 included: a notation contradicting itself is ignored.
            codes += [
                c.get("code")
                for c in found.get("coding") or []
                if str(c.get("display") or c.get("code")).lower() != "increase"
                or c.get("code") == "increase"
            ]
        self.inverse = "decrease" in codes
        compiler = Compiler(package.libraries, package.expansions)
        library = compiler.library(package.main_library)
        for lib in list(compiler.libraries.values()):
            compiler.compile_all(lib)
        if compiler.missing_valuesets:
            missing = ", ".join(sorted(compiler.missing_valuesets))
            raise ElmUnsupported(f"{self.name}: no expansion for value set(s) {missing}")
        self.groups: list[ElmGroup] = []
        for group in measure.get("group") or []:
            scoring = _scoring(measure, group)
            if scoring not in SUPPORTED_SCORING:
                raise ElmUnsupported(f"{self.name}: {scoring} scoring is not supported")
            criteria: dict[str, str] = {}
            for population in group.get("population") or []:
                code = population["code"]["coding"][0]["code"]
                if code not in POPULATION_CODES:
                    raise ElmUnsupported(f"{self.name}: population {code} is not supported")
                criteria[code] = str(population["criteria"]["expression"])
            basis = _extension(group, BASIS_URL) or _extension(measure, BASIS_URL) or "boolean"
            self.groups.append(
                ElmGroup(
                    populations={c: compiler.definition(library, e) for c, e in criteria.items()},
                    criteria=criteria,
                    boolean_basis=str(basis) == "boolean",
                )
            )
        if not self.groups:
            raise ElmUnsupported(f"{self.name}: the Measure has no group")

    @property
    def patient_based(self) -> bool:
        return all(group.boolean_basis for group in self.groups)

    def outreach(self) -> ElmMeasure:
        """This measure with its qualifying-visit requirement met (``outreach.py``).

        Derived from the ELM and compiled on first use. Episode-based measures have no
        outreach mode: their populations are the visits themselves.
        """
        if not self.patient_based:
            raise InvalidInput(
                f"{self.cms_id}: outreach mode needs a patient-based measure; its populations "
                "count encounters (episode-based)",
                field="outreach",
            )
        if self._outreach is None:
            derived = outreach_package(
                self.package, [g.criteria["initial-population"] for g in self.groups]
            )
            variant = ElmMeasure(derived.package)
            variant.outreach_dropped = derived.dropped
            self._outreach = variant
        return self._outreach

    def evaluate(
        self,
        by_type: dict[str, list[dict[str, Any]]],
        *,
        start: datetime,
        end: datetime,
        now: datetime | None = None,
    ) -> list[dict[str, int]]:
        """Population counts per group, in the Measure's order (MeasureReport codes)."""
        period = Interval(CqlDateTime.from_datetime(start), CqlDateTime.from_datetime(end))
        ctx = Context(
            by_type=by_type,
            params={PERIOD_PARAMETER: period},
            now=CqlDateTime.from_datetime(now or end),
        )
        try:
            return [_group_result(group, ctx) for group in self.groups]
        except (ElmRuntimeError, ValueError, TypeError, AttributeError) as exc:
            raise InvalidInput(
                f"{self.cms_id}: the measure logic failed for a patient ({type(exc).__name__}:"
                f" {exc})",
                field="measure",
            ) from None


def _members(value: Any) -> dict[int, Any]:
    if isinstance(value, list):
        return {id(v): v for v in value if v is not None}
    return {} if value is None else {id(value): value}


def _group_result(group: ElmGroup, ctx: Context) -> dict[str, int]:
    pops = group.populations
    if group.boolean_basis:
        return _patient_based(pops, ctx)
    ip = _members(pops["initial-population"](ctx, {}))

    def within(code: str, allowed: dict[int, Any]) -> dict[int, Any]:
        if code not in pops or not allowed:
            return {}
        found = _members(pops[code](ctx, {}))
        return {k: v for k, v in found.items() if k in allowed}

    den = within("denominator", ip) if "denominator" in pops else ip
    excluded = within("denominator-exclusion", den)
    remaining = {k: v for k, v in den.items() if k not in excluded}
    numerator = within("numerator", remaining)
    exception_pool = {k: v for k, v in remaining.items() if k not in numerator}
    values = {
        "initial-population": ip,
        "denominator": den,
        "denominator-exclusion": excluded,
        "denominator-exception": within("denominator-exception", exception_pool),
        "numerator": numerator,
        "numerator-exclusion": within("numerator-exclusion", numerator),
    }
    return {code: len(values[code]) for code in pops}


def _patient_based(pops: dict[str, Fn], ctx: Context) -> dict[str, int]:
    def holds(code: str) -> bool:
        return code in pops and pops[code](ctx, {}) is True

    return patient_populations(pops, holds)


def patient_populations(codes: Collection[str], holds: Callable[[str], bool]) -> dict[str, int]:
    """A patient's 0/1 per population ``codes`` names, in the measure cascade's order: each
    criterion is asked only where the ones before it leave it mattering."""
    ip = holds("initial-population")
    den = ip and ("denominator" not in codes or holds("denominator"))
    excluded = den and holds("denominator-exclusion")
    numerator = den and not excluded and holds("numerator")
    excepted = den and not excluded and not numerator and holds("denominator-exception")
    values = {
        "initial-population": ip,
        "denominator": den,
        "denominator-exclusion": excluded,
        "denominator-exception": excepted,
        "numerator": numerator,
        "numerator-exclusion": numerator and holds("numerator-exclusion"),
    }
    return {code: int(values[code]) for code in codes}
