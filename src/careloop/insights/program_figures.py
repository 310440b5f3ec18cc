"""What happened in each program over a period, aggregated by the database.

The event log grows by every nightly decision and message (about a million rows at 10,000
patients): reading it row by row into Python took minutes per report. Here each figure is one
``GROUP BY`` or window query over the period's slice of the log (``ix_events_kind_occurred``),
and only per-patient sets and per-channel counts come back.

*Engaged* pairs a reply with the latest message of the program to that patient that no earlier
reply answered: in the log ordered by time, the event before a reply among messages and replies
(``LAG``) must be a ``sent`` no more than 72 hours earlier.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.models import DecisionRow, Event

ENGAGEMENT_WINDOW = timedelta(hours=72)
REPLY_KINDS = ("replied", "confirmed", "clicked")
SETS = ("eligible", "completed", "opted_out")


@dataclass
class ProgramFigures:
    """What happened in one program over the period."""

    program: str
    eligible: set[str] = field(default_factory=set)
    arms: dict[str, str] = field(default_factory=dict)  # patient → treatment | holdout
    contacted: set[str] = field(default_factory=set)
    engaged: set[str] = field(default_factory=set)
    completed: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)
    sent_by_channel: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    engaged_by_channel: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    response_minutes: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    sent_by_window: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    engaged_by_window: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_seen: dict[str, datetime] = field(default_factory=dict)  # first eligible or enrolled


def _payload_text(key: str) -> ColumnElement[str]:
    """``payload[key]`` as text, ``'unknown'`` when absent (as ``payload.get(key, 'unknown')``)."""
    return func.coalesce(Event.payload[key].as_string(), "unknown")


_DECIDED = DecisionRow.id == Event.payload["decision_id"].as_string()
"""The engine's decision a ``sent`` event names (``payload.decision_id``): it holds the send
window, which the sent event itself does not carry."""


def _send_window() -> ColumnElement[str]:
    """The send window of a ``sent`` event: its own ``send_window`` where a send names one,
    else its decision's (joined on :data:`_DECIDED`), ``'unknown'`` without either. Reading only
    the payload put every send of the log in one series, "unknown"."""
    return func.coalesce(
        Event.payload["send_window"].as_string(), DecisionRow.send_window, "unknown"
    )


def _scoped(
    query: Select[Any],
    *,
    kinds: Sequence[str] | None,
    start: datetime,
    end: datetime,
    program: str | None,
) -> Select[Any]:
    if kinds is not None:
        query = query.where(Event.kind.in_(kinds))
    query = query.where(
        Event.occurred_at >= ensure_utc(start),
        Event.occurred_at < ensure_utc(end),
        Event.program.is_not(None),
        Event.patient_id.is_not(None),
    )
    return query if program is None else query.where(Event.program == program)


def program_figures(
    session: Session, *, start: datetime, end: datetime, program: str | None = None
) -> dict[str, ProgramFigures]:
    """Each program's figures over ``[start, end)`` (only ``program``'s when given)."""
    programs: dict[str, ProgramFigures] = {}

    def fig(name: str) -> ProgramFigures:
        return programs.setdefault(name, ProgramFigures(program=name))

    scope: dict[str, Any] = {"start": start, "end": end, "program": program}
    # A program is in the report once any of its events names a patient (a decision, a skip).
    for name in session.scalars(_scoped(select(Event.program), kinds=None, **scope).distinct()):
        fig(name)
    sets = _scoped(
        select(Event.program, Event.kind, Event.patient_id), kinds=SETS, **scope
    ).group_by(Event.program, Event.kind, Event.patient_id)
    for name, kind, patient in session.execute(sets):
        getattr(fig(name), kind).add(patient)
    # The latest enrollment decides the arm.
    enrolled = _scoped(
        select(Event.program, Event.patient_id, Event.payload["arm"].as_string()),
        kinds=("enrolled",),
        **scope,
    ).order_by(Event.occurred_at, Event.id)
    for name, patient, arm in session.execute(enrolled):
        fig(name).arms[patient] = arm or "treatment"
    seen = _scoped(
        select(Event.program, Event.patient_id, func.min(Event.occurred_at)),
        kinds=("eligible", "enrolled"),
        **scope,
    ).group_by(Event.program, Event.patient_id)
    for name, patient, at in session.execute(seen):
        fig(name).first_seen[patient] = ensure_utc(at)
    contacted = _scoped(select(Event.program, Event.patient_id), kinds=("sent",), **scope).group_by(
        Event.program, Event.patient_id
    )
    for name, patient in session.execute(contacted):
        fig(name).contacted.add(patient)
    _add_engagement(session, programs, **scope)
    return programs


def engagement_figures(
    session: Session, *, start: datetime, end: datetime
) -> dict[str, ProgramFigures]:
    """Only the per-channel and per-window figures (messages, engaged replies, minutes to
    reply) of the programs that sent messages in ``[start, end)``: what a learning curve's
    point needs, in two queries."""
    programs: dict[str, ProgramFigures] = {}
    _add_engagement(session, programs, start=start, end=end, program=None)
    return programs


def _add_engagement(
    session: Session,
    programs: dict[str, ProgramFigures],
    *,
    start: datetime,
    end: datetime,
    program: str | None,
) -> None:
    def fig(name: str) -> ProgramFigures:
        return programs.setdefault(name, ProgramFigures(program=name))

    scope: dict[str, Any] = {"start": start, "end": end, "program": program}
    channel, window = _payload_text("channel"), _send_window()
    sent = _scoped(
        select(Event.program, channel, window, func.count())
        .select_from(Event)
        .outerjoin(DecisionRow, _DECIDED),
        kinds=("sent",),
        **scope,
    ).group_by(Event.program, channel, window)
    for name, by_channel, by_window, count in session.execute(sent):
        fig(name).sent_by_channel[by_channel] += count
        fig(name).sent_by_window[by_window] += count
    for name, patient, by_channel, by_window, minutes in _engaged(session, **scope):
        figures = fig(name)
        figures.engaged.add(patient)
        figures.engaged_by_channel[by_channel] += 1
        figures.engaged_by_window[by_window] += 1
        figures.response_minutes[by_channel].append(minutes)


def _engaged(
    session: Session, *, start: datetime, end: datetime, program: str | None
) -> list[tuple[str, str, str, str, float]]:
    """(program, patient, channel, send window, minutes to reply) of each engaging reply."""
    order = (Event.occurred_at, Event.id)
    partition = (Event.program, Event.patient_id)
    paired = _scoped(
        select(
            Event.program.label("program"),
            Event.patient_id.label("patient"),
            Event.kind.label("kind"),
            Event.occurred_at.label("at"),
            func.lag(Event.kind).over(partition_by=partition, order_by=order).label("prev"),
            func.lag(Event.occurred_at, type_=Event.occurred_at.type)
            .over(partition_by=partition, order_by=order)
            .label("prev_at"),
            func.lag(_payload_text("channel"))
            .over(partition_by=partition, order_by=order)
            .label("channel"),
            func.lag(_send_window()).over(partition_by=partition, order_by=order).label("window"),
        )
        .select_from(Event)
        .outerjoin(DecisionRow, _DECIDED),
        kinds=("sent", *REPLY_KINDS),
        start=start,
        end=end,
        program=program,
    ).subquery()
    rows = session.execute(
        select(
            paired.c.program,
            paired.c.patient,
            paired.c.channel,
            paired.c.window,
            paired.c.at,
            paired.c.prev_at,
        ).where(paired.c.kind.in_(REPLY_KINDS), paired.c.prev == "sent")
    )
    return [
        (name, patient, str(channel), str(window), (at - prev_at).total_seconds() / 60)
        for name, patient, channel, window, at, prev_at in rows
        if at - prev_at <= ENGAGEMENT_WINDOW
    ]


def is_program(name: str) -> bool:
    """A program a manager runs: its name is a slug. Names with a ``:`` are entries the loop
    keeps for itself (``request:<message>`` one-off messages, ``prep:<kind>`` exam-prep
    journeys): no eligibility, no arms, so their rows were all zeros."""
    return ":" not in name


def internal_activity(
    session: Session, *, start: datetime, end: datetime, names: Sequence[str]
) -> list[dict[str, Any]]:
    """Each internal entry of ``names``: its kind (the part before ``:``), the patients its
    events name and how many events it has in ``[start, end)``."""
    if not names:
        return []
    query = _scoped(
        select(Event.program, func.count(func.distinct(Event.patient_id)), func.count()),
        kinds=None,
        start=start,
        end=end,
        program=None,
    )
    rows = session.execute(query.where(Event.program.in_(sorted(names))).group_by(Event.program))
    return [
        {"program": name, "kind": name.partition(":")[0], "patients": patients, "events": events}
        for name, patients, events in sorted(rows)
    ]
