"""Views of one patient's event log for the pages: one timeline, care gaps, programs, readings.

The event log is the spine (see the architecture): a patient's timeline, the care gaps the
programs found and the state of each enrolment are all views of it, so the console and the
portal read them here instead of reaching into other domains' tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.channels.labels import CHANNEL_WORDS
from careloop.events import EventKind, list_events
from careloop.models import Event
from careloop.outreach.titles import program_title

# (css class, sentence) per event kind; {channel}, {program}, ... come from the event.
_DESCRIBE: dict[str, tuple[str, str, str]] = {
    "decided": ("decision", "decision", "Engine chose {action}"),
    "sent": ("out", "message out", "Sent by {channel}{where}"),
    "delivered": ("out", "delivered", "Delivered by {channel}"),
    "failed": ("out", "failed", "Delivery failed on {channel}"),
    "replied": ("in", "message in", "{who} replied by {channel}"),
    "confirmed": ("in", "confirmed", "Patient confirmed ({program})"),
    "clicked": ("in", "clicked", "Patient opened the link ({program})"),
    "opted_out": ("in", "opted out", "Opted out of {channels}"),
    "opted_in": ("in", "opted in", "Opted in to {channels}"),
    "checkin_submitted": (
        "in",
        "check-in",
        "Check-in {instrument}: {answered} answers{score}",
    ),
    "reading_received": ("in", "reading", "Reading {values}"),
    "alert_raised": ("alert", "alert", "Alert raised: {rule} ({severity})"),
    "alert_acknowledged": ("alert", "acknowledged", "Alert acknowledged: {rule}"),
    "alert_resolved": ("alert", "resolved", "Alert resolved: {rule}: {outcome}"),
    "alert_escalated": ("alert", "escalated", "Alert escalated: {rule}"),
    "task_created": ("alert", "task", "Task created: {rule}"),
    "plan_proposed": ("plan", "plan proposed", "Plan change proposed: {kind}"),
    "plan_adjusted": ("plan", "plan changed", "Plan changed (approved): {kind}"),
    "plan_rejected": ("plan", "plan rejected", "Plan change rejected: {kind}"),
    "enrolled": ("program", "enrolled", "Enrolled in {program} ({arm} arm)"),
    "completed": ("program", "completed", "Completed {program}"),
    "closed": ("program", "closed", "Left {program}"),
    "eligible": ("program", "care gap", "Due: {reason}"),
    "preference_changed": ("program", "preferences", "Preferences changed: {changed}"),
}
TIMELINE_KINDS = tuple(_DESCRIBE)
MEASURES = {
    "systolic_bp": ("Blood pressure", "mmHg"),
    "diastolic_bp": ("Blood pressure", "mmHg"),
    "glucose": ("Glucose", "mg/dL"),
    "weight": ("Weight", "kg"),
}


def reading_in_words(values: Mapping[str, object]) -> str | None:
    """``Blood pressure 191/121 mmHg · Glucose 250 mg/dL``: a reading as a nurse says it
    (the finding's own summary names measures by their codes and units by UCUM); None when
    ``values`` hold anything else, so nothing is left out silently."""
    numbers = {k: v for k, v in values.items() if k in MEASURES and isinstance(v, int | float)}
    if not numbers or len(numbers) != len(values):
        return None  # not (only) a reading of the measures named here: keep the summary
    parts = []
    pair = "systolic_bp" in numbers and "diastolic_bp" in numbers
    if pair:
        parts.append(f"Blood pressure {numbers['systolic_bp']:g}/{numbers['diastolic_bp']:g} mmHg")
    for measure, value in numbers.items():
        if pair and measure.endswith("_bp"):
            continue
        label, unit = MEASURES[measure]
        if measure.endswith("_bp"):
            label = f"{label} ({measure.removesuffix('_bp')})"
        parts.append(f"{label} {value:g} {unit}")
    return " · ".join(parts) or None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    css: str
    label: str
    text: str


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "—"


def _fields(event: Event) -> _Blank:
    payload = dict(event.payload or {})
    values = payload.get("values")
    if isinstance(values, dict):
        payload["values"] = ", ".join(f"{k.replace('_', ' ')} {v:g}" for k, v in values.items())
    action = payload.get("action")
    if isinstance(action, dict):
        payload["action"] = " · ".join(str(v) for v in action.values() if v)
    elif action is None and event.kind == "decided":
        payload["action"] = "no contact (all options blocked)"
    changed = payload.get("changed")
    if isinstance(changed, list):
        payload["changed"] = ", ".join(str(c).replace("_", " ") for c in changed)
    channel = CHANNEL_WORDS.get(str(payload.get("channel")))
    if channel is not None:  # "Sent by text message", never "Sent by sms"
        payload["channel"], payload["channels"] = channel.message, channel.plural
    else:
        payload["channels"] = payload.get("channel", "—")
    if isinstance(payload.get("kind"), str):
        payload["kind"] = payload["kind"].replace("_", " ")
    # Only what is known: "Sent by sms (—, step None)" and "score None" read as faults.
    program = program_title(event.program) if event.program else None
    where = [p for p in (program, _step(payload.get("step"))) if p]
    payload["where"] = f" ({', '.join(where)})" if where else ""
    # A caregiver's words are theirs (a proxy's portal message): never "Patient replied".
    payload["who"] = "Caregiver" if (event.actor or "").startswith("caregiver:") else "Patient"
    total = payload.get("total")
    payload["score"] = f", score {total:g}" if isinstance(total, int | float) else ""
    return _Blank({**payload, "program": program or "—"})


def _step(step: object) -> str | None:
    return None if step is None or step == "" else f"step {step}"


def describe(event: Event) -> str:
    """One timeline line in words, from the event's kind and payload."""
    return _DESCRIBE[event.kind][2].format_map(_fields(event))


def patient_events(session: Session, *, patient_id: str) -> Sequence[Event]:
    """The patient's events of every kind the views below read, oldest first: one read
    for a page that shows several of them (pass it as their ``events``)."""
    return list_events(session, patient_id=patient_id, kinds=TIMELINE_KINDS)


def _read(
    session: Session, patient_id: str, kinds: Sequence[str], events: Sequence[Event] | None
) -> Sequence[Event]:
    """``events`` of ``kinds`` when the caller read them already, else a read of those."""
    if events is None:
        return list_events(session, patient_id=patient_id, kinds=kinds)
    wanted = set(kinds)
    return [e for e in events if e.kind in wanted]


def patient_timeline(
    session: Session,
    *,
    patient_id: str,
    limit: int = 150,
    since: datetime | None = None,
    events: Sequence[Event] | None = None,
) -> list[TimelineEntry]:
    """Messages out and in, check-ins, readings, alerts and plan changes; newest first."""
    if events is None or since is not None:
        events = list_events(session, patient_id=patient_id, kinds=TIMELINE_KINDS, since=since)
    entries = []
    for event in reversed(events[-limit:]):
        css, label, _pattern = _DESCRIBE[event.kind]
        entries.append(TimelineEntry(event.occurred_at, event.kind, css, label, describe(event)))
    return entries


def reading_series(
    session: Session, *, patient_id: str, events: Sequence[Event] | None = None
) -> dict[str, dict[str, list[tuple[datetime, float]]]]:
    """Readings per chart ("Blood pressure", "Glucose", "Weight") and measure, oldest first."""
    charts: dict[str, dict[str, list[tuple[datetime, float]]]] = {}
    for event in _read(session, patient_id, [EventKind.READING_RECEIVED], events):
        for measure, value in dict((event.payload or {}).get("values") or {}).items():
            if measure in MEASURES and isinstance(value, int | float):
                chart = MEASURES[measure][0]
                name = measure.replace("_bp", "").replace("_", " ")
                charts.setdefault(chart, {}).setdefault(name, []).append(
                    (event.occurred_at, float(value))
                )
    return charts


@dataclass(frozen=True)
class ProgramState:
    program: str
    state: str
    since: datetime
    arm: str | None
    risk: str | None = None
    """The no-show risk of the booking, in words, for appointment journeys."""


def _risk_text(payload: dict[str, Any]) -> str | None:
    band = payload.get("noshow_risk_band")
    if not band:
        return None
    reasons = "; ".join(payload.get("noshow_risk_reasons") or [])
    probability = payload.get("noshow_risk")
    share = f" ({probability:.0%})" if isinstance(probability, float) else ""
    return f"no-show risk {band}{share}" + (f": {reasons}" if reasons else "")


def program_states(
    session: Session, *, patient_id: str, events: Sequence[Event] | None = None
) -> list[ProgramState]:
    """Each program the patient was enrolled in, with where the enrolment stands now."""
    kinds = [
        EventKind.ENROLLED,
        EventKind.SENT,
        EventKind.REPLIED,
        EventKind.COMPLETED,
        EventKind.CLOSED,
        EventKind.OPTED_OUT,
    ]
    events = _read(session, patient_id, kinds, events)
    states: dict[str, ProgramState] = {}
    words = {
        "enrolled": "enrolled",
        "sent": "contacted",
        "replied": "responded",
        "completed": "completed",
        "closed": "closed",
        "opted_out": "opted out",
    }
    for event in events:
        if not event.program:
            continue
        if event.kind != "enrolled" and event.program not in states:
            continue
        arm = (event.payload or {}).get("arm") if event.kind == "enrolled" else None
        risk = _risk_text(event.payload or {}) if event.kind == "enrolled" else None
        previous = states.get(event.program)
        states[event.program] = ProgramState(
            event.program,
            words[event.kind],
            event.occurred_at,
            arm if arm is not None else (previous.arm if previous else None),
            risk if risk is not None else (previous.risk if previous else None),
        )
    return sorted(states.values(), key=lambda s: s.program)


@dataclass(frozen=True)
class CareGap:
    program: str
    reason: str
    care_gap: dict[str, Any]
    since: datetime
    closed: bool


def care_gaps(
    session: Session, *, patient_id: str, events: Sequence[Event] | None = None
) -> list[CareGap]:
    """The latest care gap each program found (``eligible``), and whether it was closed.

    Only eligibility with a reason is a gap: a journey that enrols on its own (appointment
    reminders ahead of a booked visit) records ``eligible`` with none, and listing it read
    as "appointment-reminders:" followed by nothing."""
    found: dict[str, CareGap] = {}
    done: set[str] = set()
    kinds: Sequence[str] = (EventKind.ELIGIBLE, EventKind.COMPLETED)
    for event in _read(session, patient_id, kinds, events):
        program = event.program or "—"
        if event.kind == "completed":
            done.add(program)
            continue
        payload = event.payload or {}
        if not payload.get("reason"):
            continue
        found[program] = CareGap(
            program,
            str(payload.get("reason") or ""),
            dict(payload.get("care_gap") or {}),
            event.occurred_at,
            False,
        )
        done.discard(program)
    return [
        CareGap(g.program, g.reason, g.care_gap, g.since, g.program in done)
        for g in sorted(found.values(), key=lambda g: g.program)
    ]
