"""Evaluate measures for one patient: population membership per group and the care gap.

Populations follow the proportion-measure rules of a MeasureReport: the denominator is within
the initial population, exclusions within the denominator, the numerator only for those not
excluded, and exceptions only for those neither excluded nor in the numerator.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from careloop.programs.elm.measure import patient_populations
from careloop.programs.measures.criteria import Context
from careloop.programs.measures.definition import Group, Measure
from careloop.programs.measures.record import PatientRecord, Resource
from careloop.programs.measures.timing import point, resolve_anchor

MeasureResult = dict[str, Any]


def _group_result(group: Group, ctx: Context) -> dict[str, int]:
    pops = group.populations

    def holds(code: str) -> bool:
        return code in pops and bool(pops[code](ctx))

    return patient_populations(pops, holds)


def _first_label(labels: list[tuple[str, Any]], ctx: Context, fallback: str) -> str:
    for label, predicate in labels:
        if predicate(ctx):
            return label
    return fallback


def _dates(measure: Measure, ctx: Context) -> dict[str, str]:
    return {
        key: resolve_anchor(anchor, ctx.start, ctx.end).date().isoformat()
        for key, anchor in measure.anchors.items()
    }


def _python_reason(kind: str, ctx: Context) -> str:
    if kind == "blood_pressure":
        detail = ctx.memo.get("detail:blood_pressure")
        if detail is None:
            return "no outpatient blood pressure reading recorded in the period"
        day, systolic, diastolic = detail
        if systolic is None or diastolic is None:
            return f"the last blood pressure reading, on {day.isoformat()}, is incomplete"
        return (
            f"last blood pressure, on {day.isoformat()}, was {systolic:g}/{diastolic:g} mmHg, "
            "not below 140/90"
        )
    if kind == "glycemic_status":
        detail = ctx.memo.get("detail:glycemic_status")
        if detail is None:
            return "no HbA1c or GMI test recorded in the period"
        day, value = detail
        if value is None:
            return f"the last HbA1c/GMI test, on {day.isoformat()}, has no result"
        return f"last HbA1c/GMI, on {day.isoformat()}, was {value:g} %, above 9 %"
    return "care gap open"


def deceased_by(patient: Resource, end: datetime) -> bool:
    """Outreach never targets the deceased (the eCQMs themselves have no such exclusion)."""
    if patient.get("deceasedBoolean") is True:
        return True
    died = point(patient.get("deceasedDateTime"))
    return died is not None and died <= end


def _care_gap(measure: Measure, groups: list[dict[str, int]], ctx: Context) -> tuple[bool, str]:
    spec = measure.care_gap
    if ctx.outreach and deceased_by(ctx.record.patient, ctx.end):
        return False, "patient is deceased"
    index = int(spec.get("group", 1)) - 1
    result = groups[index]
    group = measure.groups[index]
    if not result.get("denominator", result["initial-population"]):
        return False, "not in the measure's eligible population"
    if result.get("denominator-exclusion"):
        label = _first_label(group.exclusion_labels, ctx, "meets an exclusion of the measure")
        return False, f"excluded: {label}"
    if result.get("denominator-exception"):
        label = _first_label(group.exception_labels, ctx, "a documented exception applies")
        return False, f"exception: {label}"
    inverse = spec.get("when") == "numerator"
    gap = bool(result.get("numerator")) if inverse else not result.get("numerator")
    dates = _dates(measure, ctx)
    if not gap:
        return False, str(spec.get("met", "care up to date")).format(**dates)
    if "python_reason" in spec:
        return True, _python_reason(str(spec["python_reason"]), ctx)
    return True, str(spec.get("reason", "care gap open")).format(**dates)


def evaluate_record(
    measures: list[Measure] | tuple[Measure, ...],
    record: PatientRecord,
    *,
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> list[MeasureResult]:
    """One result per measure for one patient (one shared context, so shared logic runs once)."""
    ctx = Context(record=record, start=start, end=end, outreach=outreach)
    results = []
    for measure in measures:
        groups = [_group_result(group, ctx) for group in measure.groups]
        gap, reason = _care_gap(measure, groups, ctx)
        results.append(
            {
                "patient": record.patient_id,
                "measure": measure.cms_id,
                "groups": groups,
                "care_gap": gap,
                "reason": reason,
            }
        )
    return results


def evaluate_patient(
    measures: list[Measure] | tuple[Measure, ...],
    resources: list[Resource],
    *,
    start: datetime,
    end: datetime,
    outreach: bool = False,
) -> list[MeasureResult]:
    return evaluate_record(
        measures, PatientRecord(resources), start=start, end=end, outreach=outreach
    )
