"""Is this patient eligible for this program, and why: pure, one patient record at a time.

Order: the program's record-level exclusions (deceased, hospice, palliative care), then its
eligibility (a measure's care gap, or its population and first open gap). Exclusions that
need the database (opted out, a segment filter) are applied by the service for a whole batch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from careloop.programs.definition import Program, code_less_types
from careloop.programs.elm.measure import ElmMeasure
from careloop.programs.expressions import TIME_FIELD, common_library, time_of
from careloop.programs.measures.criteria import Context
from careloop.programs.measures.evaluate import evaluate_record as evaluate_measures
from careloop.programs.measures.packaged import evaluate_packaged
from careloop.programs.measures.record import PatientRecord, Resource
from careloop.programs.measures.timing import latest, point, resolve_anchor
from careloop.programs.schema import Exclusion, MeasureEligibility
from careloop.programs.windows import Window

EXCLUSION_REASONS = {
    Exclusion.DECEASED: "patient is deceased",
    Exclusion.HOSPICE: "receives hospice care",
    Exclusion.PALLIATIVE_CARE: "receives palliative care",
    Exclusion.OPTED_OUT: "opted out of {purpose} messages",
}
_RECORD_EXCLUSIONS = {
    Exclusion.HOSPICE: "has_hospice_services",
    Exclusion.PALLIATIVE_CARE: "has_palliative_care",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """One patient's answer. ``excluded`` names the exclusion that applied, if any."""

    patient_id: str
    eligible: bool
    reason: str
    care_gap: dict[str, Any] | None = None
    excluded: str | None = None


def is_deceased(patient: Resource, *, by: datetime) -> bool:
    if patient.get("deceasedBoolean") is True:
        return True
    died = point(patient.get("deceasedDateTime"))
    return died is not None and died <= by


def _context(record: PatientRecord, window: Window) -> Context:
    return Context(record=record, start=window.start, end=window.end, outreach=True)


def shares_record_exclusions(program: Program) -> bool:
    """Whether this program's hospice and palliative-care answers for a patient equal those
    of any other program so qualified, on records built from one read of the facts.

    Every program asks them (eight times per patient a night). They are the shared
    library's definitions (not overridden by the program), which retrieve by code only; a
    program whose records hold every fact carrying one of that library's codes sees, for
    those retrieves, exactly the facts any other such program sees (records keep the
    read's order), so the answer for a window can be computed once per patient.
    """
    common = common_library()
    codes = program.load_codes
    if codes is None or not _common_codes() <= codes:
        return False
    for name in _RECORD_EXCLUSIONS.values():
        body = common.definitions.get(name)
        if body is None or program.library.predicate(name) is not common.predicate(name):
            return False
        if not _coded_only(body) or any(code_less_types(body)):
            return False  # only plain coded retrieves are known to see the same facts
    return True


@lru_cache(maxsize=1)
def _common_codes() -> frozenset[str]:
    """The shared library's codes (``common_library`` is made once: so are they), not
    gathered again from its value sets for every program of every slice."""
    return common_library().all_codes()


def _coded_only(node: Any) -> bool:
    """No Python criterion and no reference to another definition anywhere in ``node``."""
    if isinstance(node, dict):
        return not {"python", "ref"} & set(node) and all(map(_coded_only, node.values()))
    if isinstance(node, list):
        return all(map(_coded_only, node))
    return True


ExclusionPlan = tuple[tuple[Exclusion, Any, str], ...]
"""Per record-level exclusion: its predicate (None: deceased) and where a shared answer is
kept for the window."""
_PLANS: dict[int, tuple[Program, dict[tuple[datetime, datetime], ExclusionPlan]]] = {}


def _exclusion_plan(program: Program, start: datetime, end: datetime) -> ExclusionPlan:
    """The program's record-level exclusions for a window, looked up once per program and
    window (not per patient: eight programs ask for every patient of a night). Bounded: a
    program keeps the plans of at most 16 windows, the process at most 64 programs."""
    entry = _PLANS.get(id(program))
    if entry is None or entry[0] is not program:
        if len(_PLANS) >= 64:
            _PLANS.clear()
        entry = _PLANS[id(program)] = (program, {})
    plans = entry[1]
    plan = plans.get((start, end))
    if plan is None:
        if len(plans) >= 16:
            plans.clear()
        steps: list[tuple[Exclusion, Any, str]] = []
        for exclusion in program.definition.exclusions:
            if exclusion == Exclusion.DECEASED:
                steps.append((exclusion, None, ""))
            elif exclusion in _RECORD_EXCLUSIONS:
                predicate = program.library.predicate(_RECORD_EXCLUSIONS[exclusion])
                what = f"exclusion:{exclusion}:{start.isoformat()}:{end.isoformat()}"
                steps.append((exclusion, predicate, what))
            # opted out is decided by governance.consent, for a batch
        plan = plans[(start, end)] = tuple(steps)
    return plan


def _excluded(program: Program, ctx: Context, *, shared: bool = False) -> Exclusion | None:
    record = ctx.record
    patient = record.patient
    for exclusion, predicate, what in _exclusion_plan(program, ctx.start, ctx.end):
        if predicate is None:
            found = is_deceased(patient, by=ctx.end)
        elif shared:  # once per patient and window, for every program that shares it
            # ``record.derive(patient, what, ...)`` inlined: this runs for every verdict.
            key = (id(patient), what)
            entry = record.derived.get(key)
            if entry is not None and entry[0] is patient:
                found = entry[1]
            else:
                found = predicate(ctx)
                record.derived[key] = (patient, found)
        else:
            found = predicate(ctx)
        if found:
            return exclusion
    return None


def _format(
    template: str, program: Program, ctx: Context, window: Window
) -> tuple[str, dict[str, Any]]:
    values: dict[str, Any] = {
        "window_start": window.start.date().isoformat(),
        "window_end": window.end.date().isoformat(),
        "as_of": window.as_of.isoformat(),
    }
    for name, anchor in program.dates.items():
        values[name] = resolve_anchor(anchor, ctx.start, ctx.end).date().isoformat()
    readings: dict[str, Any] = {}
    for name, reading in program.library.readings.items():
        if "{" + name in template:
            found = reading(ctx)
            values[name] = found
            if found is not None:
                readings[name] = asdict(found)
    try:
        return template.format(**values), readings
    except (AttributeError, TypeError, ValueError, KeyError):
        # A reading the reason names is missing for this patient: say the gap, not a crash.
        return template.split("{", 1)[0].rstrip(" ,:") or "care gap open", readings


def evaluate_record(
    program: Program,
    record: PatientRecord,
    window: Window,
    *,
    package: tuple[ElmMeasure, list[Resource]] | None = None,
    shared_exclusions: bool = False,
) -> Verdict:
    """The verdict for one patient's record in one window.

    A program on a loaded measure package gets the compiled package and the patient's
    resources in ``package`` (the service finds the package in the database).
    ``shared_exclusions``: the program :func:`shares_record_exclusions`, so its hospice and
    palliative-care answers are kept with the record's shared derivations.
    """
    pid = record.patient_id
    ctx = _context(record, window)
    exclusion = _excluded(program, ctx, shared=shared_exclusions)
    if exclusion is not None:
        return Verdict(pid, False, EXCLUSION_REASONS[exclusion], excluded=str(exclusion))
    eligibility = program.definition.eligibility
    if isinstance(eligibility, MeasureEligibility):
        outreach = eligibility.mode == "outreach"
        if package is not None:
            measure, resources = package
            result = evaluate_packaged(
                measure,
                resources,
                patient_id=pid,
                start=window.start,
                end=window.end,
                outreach=outreach,
            )
            cms_id = measure.cms_id
        else:
            assert program.measure is not None
            result = evaluate_measures(
                [program.measure], record, start=window.start, end=window.end, outreach=outreach
            )[0]
            cms_id = program.measure.cms_id
        measure_gap = {
            "measure": cms_id,
            "mode": eligibility.mode,
            "groups": result["groups"],
            "window": window.label,
        }
        reason = str(result["reason"])
        excluded = "measure-exclusion" if reason.startswith("excluded:") else None
        return Verdict(pid, bool(result["care_gap"]), reason, measure_gap, excluded)
    if program.population is not None and not program.population(ctx):
        return Verdict(pid, False, "not in the program's population")
    for gap in program.gaps:
        if gap.when(ctx):
            reason, readings = _format(gap.reason, program, ctx, window)
            care_gap: dict[str, Any] = {"gap": gap.id, "window": window.label}
            if readings:
                care_gap["readings"] = readings
            return Verdict(pid, True, reason, care_gap)
    return Verdict(pid, False, "care up to date")


@dataclass(frozen=True, slots=True)
class Completion:
    """What closed the gap, and on which day."""

    what: str
    on: date


def find_completion(
    program: Program, record: PatientRecord, *, since: datetime, now: datetime
) -> Completion | None:
    """The completion criterion: one of ``completion.any_of`` recorded from ``since`` to ``now``.

    Each ``any_of`` retrieve's own ``when`` is relative to that window (start = enrollment);
    without one, the resource's clinical time must fall in it.
    """

    ctx = Context(record=record, start=since, end=now)
    found: list[tuple[datetime, Resource]] = []
    specs = program.definition.completion.any_of
    for spec, retrieve in zip(specs, program.completion, strict=True):
        for resource in retrieve(ctx):
            field = TIME_FIELD.get(str(resource.get("resourceType")), "effective")
            moment = latest(time_of(field)(resource, record.birth_date))
            if moment is None:
                continue
            if "when" in spec or since.date() <= moment.date() <= now.date():
                found.append((moment, resource))
    if not found:
        return None
    first = min(found, key=lambda pair: pair[0])[0]
    return Completion(program.definition.completion.description, first.date())
