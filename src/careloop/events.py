"""Writing and reading the append-only event log.

Every capability records what happened here; KPIs, the learning engine, the audit view and
a patient's timeline are all read from it. Services only flush; the edge commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.db import copy_then_insert
from careloop.models import Event
from careloop.queryfilters import where_given

# From this many events on, PostgreSQL takes a batch by COPY (a night's slice writes
# thousands; the temporary table is not worth it for a few).
COPY_FROM = 32


class EventKind(StrEnum):
    """Known event kinds; new capabilities add theirs here so the vocabulary stays one list."""

    IMPORTED = "imported"
    PATIENT_LINKED = "patient_linked"
    CAREGIVER_UPDATED = "caregiver_updated"
    ELIGIBLE = "eligible"
    ENROLLED = "enrolled"
    DECIDED = "decided"
    SENT = "sent"
    DELIVERED = "delivered"
    FAILED = "failed"
    REPLIED = "replied"
    COMPLETED = "completed"
    CLICKED = "clicked"
    CONFIRMED = "confirmed"
    OPTED_OUT = "opted_out"
    OPTED_IN = "opted_in"
    CLOSED = "closed"
    STEP_SKIPPED = "step_skipped"
    CHECKIN_SUBMITTED = "checkin_submitted"
    READING_RECEIVED = "reading_received"
    ALERT_RAISED = "alert_raised"
    ALERT_ACKNOWLEDGED = "alert_acknowledged"
    PLAN_ADJUSTED = "plan_adjusted"
    READING_REJECTED = "reading_rejected"
    CHECKIN_REJECTED = "checkin_rejected"
    ALERT_REPEATED = "alert_repeated"
    ALERT_SUPPRESSED = "alert_suppressed"
    ALERT_ASSIGNED = "alert_assigned"
    ALERT_ESCALATED = "alert_escalated"
    ALERT_RESOLVED = "alert_resolved"
    TASK_CREATED = "task_created"
    PLAN_PROPOSED = "plan_proposed"
    PLAN_REJECTED = "plan_rejected"
    PREFERENCE_CHANGED = "preference_changed"
    CONTENT_DRAFTED = "content_drafted"
    CONTENT_APPROVED = "content_approved"
    CONTENT_RETIRED = "content_retired"
    CONTENT_SYNCED = "content_synced"
    # access (issue "Access"): offers, bookings, rides
    SLOTS_OFFERED = "slots_offered"
    SLOT_BOOKED = "slot_booked"
    BOOKING_CANCELLED = "booking_cancelled"
    RIDE_UPDATED = "ride_updated"
    REWARD_EARNED = "reward_earned"
    REWARD_REFUSED = "reward_refused"
    REWARD_FULFILLED = "reward_fulfilled"
    REWARD_CANCELLED = "reward_cancelled"
    TOOL_PRESCRIBED = "tool_prescribed"
    TOOL_FOLLOWED_UP = "tool_followed_up"
    FORM_SENT = "form_sent"
    FORM_SIGNED = "form_signed"
    REVIEW_INVITED = "review_invited"


def record_event(
    session: Session,
    *,
    kind: EventKind | str,
    clock: Clock,
    actor: str,
    patient_id: str | None = None,
    occurred_at: datetime | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    program: str | None = None,
    payload: dict[str, Any] | None = None,
    flush: bool = True,
) -> Event:
    """Append one event. ``occurred_at`` defaults to the clock's now.

    ``flush=False``: leave it pending, so a batch of events goes out in one statement at the
    session's next flush (its ``id`` is unset until then)."""
    now = clock.now()
    event = Event(
        kind=str(kind),
        patient_id=patient_id,
        occurred_at=ensure_utc(occurred_at) if occurred_at else now,
        recorded_at=now,
        actor=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        program=program,
        payload=payload or {},
    )
    session.add(event)
    if flush:
        session.flush()
    return event


@dataclass(frozen=True, slots=True, kw_only=True)
class NewEvent:
    """One event of a batch for :func:`record_events` (the arguments of :func:`record_event`)."""

    kind: EventKind | str
    actor: str
    patient_id: str | None = None
    occurred_at: datetime | None = None
    subject_type: str | None = None
    subject_id: str | None = None
    program: str | None = None
    payload: dict[str, Any] | None = None


def record_events(
    session: Session, *, events: Sequence[NewEvent], clock: Clock, copy_from: int = COPY_FROM
) -> int:
    """Append a batch of events in one statement (COPY on PostgreSQL); returns how many.

    Written at once, not left pending: nothing is returned, so no id has to come back per
    row, and a query later in the transaction sees them. Events pending in the session are
    flushed first, so the log keeps the order they were recorded in."""
    if not events:
        return 0
    now = clock.now()
    rows = [
        {
            "kind": str(e.kind),
            "patient_id": e.patient_id,
            "occurred_at": ensure_utc(e.occurred_at) if e.occurred_at else now,
            "recorded_at": now,
            "actor": e.actor,
            "subject_type": e.subject_type,
            "subject_id": e.subject_id,
            "program": e.program,
            "payload": e.payload or {},
        }
        for e in events
    ]
    session.flush()
    if session.get_bind().dialect.name == "postgresql" and len(rows) >= copy_from:
        table = Event.__tablename__
        copy_then_insert(session, table=table, rows=rows, conflict="", json_columns=("payload",))
    else:
        session.execute(insert(Event), rows)
    return len(rows)


def list_events(
    session: Session,
    *,
    patient_id: str | None = None,
    kinds: Iterable[str] | None = None,
    program: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int | None = None,
) -> Sequence[Event]:
    """Events in the order they happened, filtered by patient, kind, program and time."""
    query = where_given(select(Event), (Event.patient_id, patient_id), (Event.program, program))
    if kinds is not None:
        query = query.where(Event.kind.in_([str(k) for k in kinds]))
    if since is not None:
        query = query.where(Event.occurred_at >= ensure_utc(since))
    if until is not None:
        query = query.where(Event.occurred_at < ensure_utc(until))
    query = query.order_by(Event.occurred_at, Event.id)
    if limit is not None:
        query = query.limit(limit)
    return session.scalars(query).all()
