"""Pure evaluation of clinical rules: (record snapshot, new input, now) → findings.

No I/O and no clock reads: the caller loads the snapshot and passes ``now``, so the same
function serves the API, the MQTT ingest, ``careloop rules test`` and property tests.
Each rule kind is one small function; a finding says what was seen, in numbers, and which
rule and evidence made it matter. Findings carry no names or contact details.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from statistics import fmean
from typing import Any

from careloop.feedback.checkins import Checkin, ItemAnswer
from careloop.feedback.readings import Reading
from careloop.feedback.ruleset import (
    AnswerRule,
    FeverRule,
    MissingDataRule,
    Proposal,
    RiseRule,
    Rule,
    Severity,
    SymptomRule,
    ThresholdRule,
    TrendRule,
)

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
}


@dataclass(frozen=True)
class RecordSnapshot:
    """What the rules may know of a patient's past: readings, check-ins, conditions."""

    patient_id: str
    readings: tuple[Reading, ...] = ()
    checkins: tuple[Checkin, ...] = ()
    condition_codes: frozenset[str] = frozenset()
    active_therapy: tuple[str, ...] = ()
    """Resources showing active systemic anticancer therapy (``feedback.therapy``)."""


@dataclass(frozen=True)
class NewInput:
    """What just arrived: the readings of one Observation or one check-in."""

    patient_id: str
    readings: tuple[Reading, ...] = ()
    checkin: Checkin | None = None
    source: str | None = None  # e.g. "Observation/abc"


@dataclass(frozen=True)
class Finding:
    rule_id: str
    title: str
    severity: Severity
    sla_hours: float
    patient_id: str
    summary: str
    values: dict[str, Any]
    evidence: tuple[str, ...]
    program: str | None
    team: str | None
    source: str | None
    proposal: Proposal | None = None
    task: bool = False
    suppress_repeats_hours: float = 0
    observed_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    patient_message: str | None = None
    card: str | None = None  # findings of one event share one worklist card (rule ``card``)


def _finding(
    rule: Rule,
    new: NewInput,
    *,
    summary: str,
    values: dict[str, Any],
    observed_at: datetime | None,
) -> Finding:
    return Finding(
        rule_id=rule.id,
        title=rule.title,
        severity=rule.severity,
        sla_hours=rule.sla.total_seconds() / 3600,
        patient_id=new.patient_id,
        summary=summary,
        values=values,
        evidence=tuple(rule.evidence),
        program=rule.program,
        team=rule.team,
        source=new.source,
        proposal=rule.propose,
        task=rule.task,
        suppress_repeats_hours=rule.suppress_repeats_hours,
        observed_at=observed_at,
        patient_message=rule.patient_message,
        card=rule.card,
    )


def _threshold(
    rule: ThresholdRule, snapshot: RecordSnapshot, new: NewInput, now: datetime
) -> list[Finding]:
    by_measure = {r.measure: r for r in new.readings}
    hits = []
    for cond in rule.conditions:
        reading = by_measure.get(cond.measure)
        hits.append(reading is not None and _OPS[cond.op](reading.value, cond.value))
    fired = any(hits) if rule.match == "any" else all(hits) and bool(hits)
    if not fired:
        return []
    values = {m: round(r.value, 2) for m, r in by_measure.items()}
    text = ", ".join(f"{m} {v:g} {by_measure[m].unit}" for m, v in values.items())
    at = max(r.at for r in new.readings)
    return [_finding(rule, new, summary=f"Reading {text}.", values=values, observed_at=at)]


def _series(snapshot: RecordSnapshot, new: NewInput, measure: str) -> list[Reading]:
    seen = {(r.observation_id, r.measure) for r in new.readings}
    past = [
        r
        for r in snapshot.readings
        if r.measure == measure and (r.observation_id, r.measure) not in seen
    ]
    return sorted([*past, *(r for r in new.readings if r.measure == measure)], key=lambda r: r.at)


def _trend(
    rule: TrendRule, snapshot: RecordSnapshot, new: NewInput, now: datetime
) -> list[Finding]:
    if not any(r.measure == rule.measure for r in new.readings):
        return []
    start = now - timedelta(days=rule.window_days)
    series = [r for r in _series(snapshot, new, rule.measure) if start <= r.at <= now]
    if len(series) < rule.min_readings:
        return []
    if series[-1].at - series[0].at < timedelta(days=rule.min_span_days):
        return []
    early = [r.value for r in series if r.at < series[0].at + timedelta(days=rule.compare_days)]
    late = [r.value for r in series if r.at > now - timedelta(days=rule.compare_days)]
    if not early or not late:
        return []
    early_mean, late_mean = fmean(early), fmean(late)
    if late_mean <= rule.target_above or early_mean - late_mean >= rule.min_improvement:
        return []
    values = {
        "measure": rule.measure,
        "early_mean": round(early_mean, 1),
        "late_mean": round(late_mean, 1),
        "readings": len(series),
        "target_above": rule.target_above,
    }
    summary = (
        f"{rule.measure} averaged {early_mean:.0f} in the first {rule.compare_days} days and "
        f"{late_mean:.0f} in the last {rule.compare_days} days ({len(series)} readings)."
    )
    return [_finding(rule, new, summary=summary, values=values, observed_at=series[-1].at)]


def _newest(new: NewInput, measure: str) -> Reading | None:
    """The newest of what just arrived for ``measure`` (one Observation may carry several)."""
    return max((r for r in new.readings if r.measure == measure), key=lambda r: r.at, default=None)


def _rise(rule: RiseRule, snapshot: RecordSnapshot, new: NewInput, now: datetime) -> list[Finding]:
    if rule.requires_condition and not snapshot.condition_codes & set(rule.requires_condition):
        return []
    current = _newest(new, rule.measure)
    if current is None:
        return []
    window = timedelta(hours=rule.window_hours)
    before = [
        r for r in _series(snapshot, new, rule.measure) if current.at - window <= r.at < current.at
    ]
    if not before:
        return []
    low = min(before, key=lambda r: r.value)
    rise = current.value - low.value
    if rise < rule.rise_at_least:
        return []
    values = {
        "measure": rule.measure,
        "from": round(low.value, 2),
        "to": round(current.value, 2),
        "rise": round(rise, 2),
    }
    summary = f"{rule.measure} rose {rise:.1f} {current.unit} within {rule.window_hours:g} h."
    return [_finding(rule, new, summary=summary, values=values, observed_at=current.at)]


def _previous(snapshot: RecordSnapshot, key: str, before: datetime | None) -> float | None:
    """The grade of this symptom in the patient's previous report of it, if any."""
    past = [
        (c.authored, c.answers[key].number)
        for c in snapshot.checkins
        if key in c.answers and c.authored is not None and (before is None or c.authored < before)
    ]
    known = [(at, v) for at, v in past if v is not None]
    if not known:
        return None
    return max(known, key=lambda p: p[0])[1]


# The symptom diary's 0-4 scale in the patient's words (oncology-symptom-diary.json).
GRADE_TOP = 4
GRADE_WORDS = {0: "none", 1: "a little", 2: "some", 3: "a lot", 4: "as bad as it can be"}
SYMPTOM_NAMES = {"fever-chills": "fever/chills"}
# A temperature taken this long before a fever report is read with it, on the same card.
TEMPERATURE_WITHIN = timedelta(hours=24)


def _grade(value: float) -> str:
    words = GRADE_WORDS.get(int(value)) if value == int(value) else None
    return f"{value:g} of {GRADE_TOP}" + (f" ({words})" if words else "")


def _symptom_summary(flagged: dict[str, dict[str, Any]]) -> str:
    """``fever/chills: 3 of 4 (a lot), severe · temperature 38.6 °C``: what the number means,
    why it matters, and the reading beside it; a bare "fever-chills 3" left the nurse guessing."""
    parts = []
    for name, v in flagged.items():
        text = f"{SYMPTOM_NAMES.get(name, name.replace('-', ' '))}: {_grade(v['grade'])}"
        if v.get("reason"):
            text += f", {v['reason']}"
        if v["previous"] is not None:
            text += f" (previously {v['previous']:g})"
        if v.get("temperature") is not None:
            text += f" · temperature {v['temperature']:.1f} °C"
        parts.append(text)
    return f"Symptoms reported: {'; '.join(parts)}."


def _temperature_near(snapshot: RecordSnapshot, new: NewInput, at: datetime | None) -> float | None:
    """The latest body temperature (°C) taken within a day before ``at`` (or with the input)."""
    taken = [
        r
        for r in _series(snapshot, new, "body_temperature")
        if at is None or at - TEMPERATURE_WITHIN <= r.at <= at + TEMPERATURE_WITHIN
    ]
    return max(taken, key=lambda r: r.at).value if taken else None


def _symptom(
    rule: SymptomRule, snapshot: RecordSnapshot, new: NewInput, now: datetime
) -> list[Finding]:
    checkin = new.checkin
    if checkin is None:
        return []
    flagged: dict[str, dict[str, Any]] = {}
    for key, answer in sorted(checkin.answers.items()):
        if not key.startswith(rule.item_system + "|") or answer.number is None:
            continue
        name = key.split("|", 1)[1]
        if rule.items and name not in rule.items:
            continue
        grade = answer.number
        if rule.grade_below is not None and grade >= rule.grade_below:
            continue
        threshold = rule.items.get(name, rule.grade_at_least)
        previous = _previous(snapshot, key, checkin.authored)
        severe = threshold is not None and grade >= threshold
        worse = (
            rule.worse_by is not None and previous is not None and grade - previous >= rule.worse_by
        )
        if severe or worse:
            flagged[name] = {
                "grade": grade,
                "previous": previous,
                "reason": "severe" if severe else "worse than the previous report",
            }
            if name == "fever-chills":
                flagged[name]["temperature"] = _temperature_near(snapshot, new, checkin.authored)
    if not flagged:
        return []
    return [
        _finding(
            rule,
            new,
            summary=_symptom_summary(flagged),
            values={"symptoms": flagged},
            observed_at=checkin.authored,
        )
    ]


def _fever(
    rule: FeverRule, snapshot: RecordSnapshot, new: NewInput, now: datetime
) -> list[Finding]:
    current = _newest(new, rule.measure)
    if current is None:
        return []
    if current.value < rule.at_least:
        return []
    # Sustained: an unbroken run of febrile readings that began an hour or more ago.
    run_start = current.at
    for reading in reversed([r for r in _series(snapshot, new, rule.measure) if r.at < current.at]):
        if reading.value < rule.at_least or current.at - reading.at > timedelta(hours=24):
            break
        run_start = reading.at
    sustained = current.at - run_start >= timedelta(minutes=rule.sustained_minutes)
    criterion = (
        f"single reading >= {rule.single_at_least:g} Cel"
        if current.value >= rule.single_at_least
        else f">= {rule.at_least:g} Cel sustained over {rule.sustained_minutes:g} min"
        if sustained
        else f">= {rule.at_least:g} Cel (call threshold; not yet sustained)"
    )
    fahrenheit = current.value * 9 / 5 + 32
    values = {
        "measure": rule.measure,
        "celsius": round(current.value, 1),
        "fahrenheit": round(fahrenheit, 1),
        "meets_idsa_definition": current.value >= rule.single_at_least or sustained,
        "criterion": criterion,
        "active_therapy": list(snapshot.active_therapy),
    }
    summary = (
        f"Temperature {current.value:.1f} Cel ({fahrenheit:.1f} degF) on active anticancer "
        f"therapy: {criterion}."
    )
    return [_finding(rule, new, summary=summary, values=values, observed_at=current.at)]


def _answer_value(answer: ItemAnswer, wanted: float | str) -> Any:
    if isinstance(wanted, str):
        value = answer.value
        if isinstance(value, dict):
            return value.get("code")
        return value if isinstance(value, str) else None
    return answer.number


def _answer(
    rule: AnswerRule, snapshot: RecordSnapshot, new: NewInput, now: datetime
) -> list[Finding]:
    checkin = new.checkin
    if checkin is None or rule.item not in checkin.answers:
        return []
    given = _answer_value(checkin.answers[rule.item], rule.value)
    if given is None or isinstance(given, str) != isinstance(rule.value, str):
        return []
    if not _OPS[rule.op](given, rule.value):
        return []
    shown = given if isinstance(given, str) else f"{given:g}"
    return [
        _finding(
            rule,
            new,
            summary=f"{checkin.instrument}: answer {shown} to {rule.item.split('|')[-1]}.",
            values={"item": rule.item, "answer": given, "instrument": checkin.instrument},
            observed_at=checkin.authored,
        )
    ]


_KINDS: dict[type[Any], Callable[[Any, RecordSnapshot, NewInput, datetime], list[Finding]]] = {
    ThresholdRule: _threshold,
    TrendRule: _trend,
    RiseRule: _rise,
    SymptomRule: _symptom,
    FeverRule: _fever,
    AnswerRule: _answer,
}


def _one_finding_per_symptom(findings: list[Finding]) -> list[Finding]:
    """Each symptom is reported once, by the most severe rule that flags it.

    A grade-4 fever on therapy would otherwise raise the fever, the grade-4 and the
    severe alert at once: three items for one call. Alert burden is a safety issue too.
    """
    claimed: set[str] = set()
    order = sorted(range(len(findings)), key=lambda i: (findings[i].severity.rank, i))
    keep: dict[int, Finding] = {}
    for index in order:
        finding = findings[index]
        symptoms = finding.values.get("symptoms") if finding.values else None
        if not isinstance(symptoms, dict):
            keep[index] = finding
            continue
        left = {k: v for k, v in symptoms.items() if k not in claimed}
        if not left:
            continue
        claimed.update(left)
        if len(left) != len(symptoms):
            finding = replace(
                finding,
                values={**finding.values, "symptoms": left},
                summary=_symptom_summary(left),
            )
        keep[index] = finding
    return [keep[i] for i in sorted(keep)]


def evaluate(
    rules: Sequence[Rule], *, snapshot: RecordSnapshot, new_input: NewInput, now: datetime
) -> list[Finding]:
    """Every finding the new input raises, given the patient's record; in rule order."""
    if snapshot.patient_id != new_input.patient_id:
        raise ValueError("the snapshot and the new input are about different patients")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    findings: list[Finding] = []
    for rule in rules:
        if rule.requires_active_therapy and not snapshot.active_therapy:
            continue
        check = _KINDS.get(type(rule))
        if check is not None:
            findings.extend(check(rule, snapshot, new_input, now))
    return _one_finding_per_symptom(findings)


@dataclass(frozen=True)
class MissingDataAction:
    """What the missing-data rule asks for one patient: a nudge to them, or a task for staff."""

    rule: MissingDataRule
    patient_id: str
    action: str  # "nudge" | "task"
    last_reading_at: datetime
    days_without: float


def missing_data_actions(
    rules: Sequence[Rule],
    *,
    last_readings: dict[str, datetime],
    nudged_since_last: set[str],
    now: datetime,
) -> list[MissingDataAction]:
    """Patients whose readings stopped: a nudge after N days, a task for staff after M days.

    Only patients who sent readings recently (``active_within_days``) are monitored, so a
    patient who left the program is not chased forever.
    """
    actions = []
    for rule in rules:
        if not isinstance(rule, MissingDataRule):
            continue
        for patient_id, last in sorted(last_readings.items()):
            gap = now - last
            days = gap.total_seconds() / 86400
            if days > rule.active_within_days:
                continue
            if days >= rule.task_after_days:
                actions.append(MissingDataAction(rule, patient_id, "task", last, days))
            elif days >= rule.nudge_after_days and patient_id not in nudged_since_last:
                actions.append(MissingDataAction(rule, patient_id, "nudge", last, days))
    return actions
