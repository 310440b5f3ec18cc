"""Alerts and tasks on the care team's worklist: raising, deduplication and lifecycle.

Lifecycle of a worklist item (alert or task)::

    raise ──► OPEN ───acknowledge──► ACKNOWLEDGED ───resolve(outcome)──► RESOLVED
               │ ▲                                                          ▲
               │ └─ repeat (same patient and rule while open): occurrences+1 │
               └──────────────────────── resolve(outcome) ──────────────────┘

    assign keeps the state; escalate (OPEN past its acknowledgement deadline) raises the
    priority one step, moves the deadline and notifies the team's lead, whose queue then
    holds an unassigned item (acknowledging takes it out of the queue). A repeat that arrives
    within a rule's ``suppress_repeats_hours`` after resolution is counted on the resolved
    item instead of reopening it.

One open item per patient and rule is enforced by the database (``open_key`` unique), so
concurrent ingest workers cannot both raise the same alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.audit import Purpose
from careloop.careteam.assignees import escalation_target, is_lead_queue
from careloop.changes import record_change
from careloop.clock import Clock, FrozenClock
from careloop.db import one_or_missing
from careloop.errors import Conflict, InvalidInput
from careloop.events import EventKind, record_event
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import DEFAULT_SLA, Severity
from careloop.models import WorklistItem
from careloop.security.principal import Principal

MAX_FINDINGS_KEPT = 20


class ItemStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ItemKind(StrEnum):
    ALERT = "alert"
    TASK = "task"


ACTIVE = (ItemStatus.OPEN, ItemStatus.ACKNOWLEDGED)


@dataclass(frozen=True)
class Raised:
    item_id: int
    created: bool
    suppressed: bool = False


def _open_key(patient_id: str, rule_id: str) -> str:
    return f"{patient_id}|{rule_id}"[:200]


def _finding_record(finding: Finding, now: datetime) -> dict[str, Any]:
    return {
        "at": (finding.observed_at or now).isoformat(),
        "summary": finding.summary,
        "values": finding.values,
        "source": finding.source,
        "severity": str(finding.severity),
    }


def _suppressing_item(session: Session, finding: Finding, now: datetime) -> WorklistItem | None:
    if finding.suppress_repeats_hours <= 0:
        return None
    since = now - timedelta(hours=finding.suppress_repeats_hours)
    return session.scalar(
        select(WorklistItem)
        .where(
            WorklistItem.patient_id == finding.patient_id,
            WorklistItem.rule_id == finding.rule_id,
            WorklistItem.status == ItemStatus.RESOLVED,
            WorklistItem.resolved_at >= since,
        )
        .order_by(WorklistItem.resolved_at.desc())
        .limit(1)
    )


def _item_event(
    session: Session,
    kind: EventKind,
    item_id: int,
    finding: Finding,
    payload: dict[str, Any],
    clock: Clock,
    actor: str,
) -> None:
    """The event of a worklist item raised (or absorbed) for ``finding``."""
    record_event(
        session,
        kind=kind,
        clock=clock,
        actor=actor,
        patient_id=finding.patient_id,
        subject_type="worklist_item",
        subject_id=str(item_id),
        program=finding.program,
        payload=payload,
    )


def raise_finding(session: Session, finding: Finding, *, clock: Clock, actor: str) -> Raised:
    """Put a finding on the worklist: a new item, or a repeat absorbed by the open one."""
    now = clock.now()
    quiet = _suppressing_item(session, finding, now)
    if quiet is not None:
        quiet.suppressed += 1
        session.flush()
        payload: dict[str, Any] = {"rule": finding.rule_id}
        _item_event(session, EventKind.ALERT_SUPPRESSED, quiet.id, finding, payload, clock, actor)
        return Raised(quiet.id, created=False, suppressed=True)
    severity = Severity(finding.severity)
    row = {
        "kind": str(ItemKind.TASK if finding.task else ItemKind.ALERT),
        "patient_id": finding.patient_id,
        "rule_id": finding.rule_id,
        "open_key": _open_key(finding.patient_id, finding.card or finding.rule_id),
        "title": finding.title[:300],
        "severity": str(severity),
        "priority": severity.rank,
        "status": str(ItemStatus.OPEN),
        "program": finding.program,
        "team": finding.team,
        "occurrences": 1,
        "suppressed": 0,
        "escalation_level": 0,
        "findings": [_finding_record(finding, now)],
        "evidence": list(finding.evidence),
        "raised_at": now,
        "last_seen_at": now,
        "due_at": now + timedelta(hours=finding.sla_hours),
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table: Table = WorklistItem.__table__  # type: ignore[assignment]
    stmt = insert(table).values(row)
    upsert = stmt.on_conflict_do_update(
        index_elements=["open_key"],
        set_={"occurrences": table.c.occurrences + 1, "last_seen_at": stmt.excluded.last_seen_at},
    ).returning(table.c.id, table.c.occurrences)
    item_id, occurrences = session.execute(upsert).one()
    created = occurrences == 1
    if created:
        payload = {
            "rule": finding.rule_id,
            "severity": str(severity),
            "kind": row["kind"],
            "source": finding.source,
        }
        _item_event(session, EventKind.ALERT_RAISED, item_id, finding, payload, clock, actor)
        return Raised(item_id, created=True)
    item = session.get(WorklistItem, item_id, populate_existing=True)
    assert item is not None
    item.findings = [*item.findings, _finding_record(finding, now)][-MAX_FINDINGS_KEPT:]
    if severity.rank < Severity(item.severity).rank:
        item.severity = str(severity)
        item.priority = min(item.priority, severity.rank)
        item.due_at = min(item.due_at, now + timedelta(hours=finding.sla_hours))
        # The card is read by its title: the finding that made it more pressing names it
        # (a fever texted, then chest pain said on a call, must not read "fever").
        item.title = finding.title[:300]
    session.flush()
    payload = {"rule": finding.rule_id, "occurrences": occurrences}
    _item_event(session, EventKind.ALERT_REPEATED, item_id, finding, payload, clock, actor)
    return Raised(item_id, created=False)


def get_item(session: Session, item_id: int, *, for_update: bool = False) -> WorklistItem:
    query = select(WorklistItem).where(WorklistItem.id == item_id)
    if for_update:
        query = query.with_for_update()
    return one_or_missing(session, query, "no such worklist item")


_TRANSITIONS = {
    EventKind.ALERT_ACKNOWLEDGED: "acknowledge",
    EventKind.ALERT_RESOLVED: "resolve",
    EventKind.ALERT_ASSIGNED: "assign",
}


def _record(
    session: Session,
    item: WorklistItem,
    event: EventKind,
    payload: dict[str, Any],
    *,
    clock: Clock,
    principal: Principal,
) -> None:
    """The item changed: its event and its audit record (``worklist-item:<transition>``)."""
    record_change(
        session,
        clock=clock,
        principal=principal,
        event=event,
        subject=("worklist_item", item.id),
        patient_id=item.patient_id,
        program=item.program,
        payload=payload,
        resource=f"worklist-item:{_TRANSITIONS[event]}",
        purpose=Purpose.TREATMENT,
        detail={"item": item.id},
    )


def _required(text: str, *, field: str, limit: int, missing: str) -> str:
    """The text a person typed, trimmed and cut to the column; ``InvalidInput`` when blank."""
    if not text.strip():
        raise InvalidInput(missing, field=field)
    return text.strip()[:limit]


def _unresolved(session: Session, item_id: int, *, refusal: str) -> WorklistItem:
    """The item, locked for the change, unless it is resolved (then ``Conflict(refusal)``)."""
    item = get_item(session, item_id, for_update=True)
    if item.status == ItemStatus.RESOLVED:
        raise Conflict(refusal)
    return item


def acknowledge(
    session: Session, item_id: int, *, clock: Clock, principal: Principal
) -> WorklistItem:
    """OPEN → ACKNOWLEDGED: someone has seen it and owns the next step."""
    item = get_item(session, item_id, for_update=True)
    if item.status != ItemStatus.OPEN:
        raise Conflict(f"cannot acknowledge an item that is {item.status}")
    item.status = str(ItemStatus.ACKNOWLEDGED)
    item.acknowledged_at = clock.now()
    item.acknowledged_by = principal.actor
    if item.assignee is None or is_lead_queue(item.assignee):
        item.assignee = principal.actor
    payload = {
        "rule": item.rule_id,
        "seconds_to_ack": (item.acknowledged_at - item.raised_at).total_seconds(),
    }
    _record(session, item, EventKind.ALERT_ACKNOWLEDGED, payload, clock=clock, principal=principal)
    return item


def resolve(
    session: Session, item_id: int, *, outcome: str, clock: Clock, principal: Principal
) -> WorklistItem:
    """OPEN or ACKNOWLEDGED → RESOLVED, with what was done (the outcome is required)."""
    said = _required(
        outcome, field="outcome", limit=2000, missing="an outcome is required to resolve"
    )
    item = _unresolved(session, item_id, refusal="the item is already resolved")
    now = clock.now()
    if item.acknowledged_at is None:
        item.acknowledged_at, item.acknowledged_by = now, principal.actor
    item.status = str(ItemStatus.RESOLVED)
    item.open_key = None  # frees the slot: the next finding raises a new item
    item.resolved_at, item.resolved_by, item.outcome = now, principal.actor, said
    payload = {"rule": item.rule_id, "outcome": item.outcome, "occurrences": item.occurrences}
    _record(session, item, EventKind.ALERT_RESOLVED, payload, clock=clock, principal=principal)
    return item


def assign(
    session: Session, item_id: int, *, assignee: str, clock: Clock, principal: Principal
) -> WorklistItem:
    """Give an active item to a person (or a team queue name)."""
    named = _required(assignee, field="assignee", limit=128, missing="an assignee is required")
    item = _unresolved(session, item_id, refusal="cannot assign a resolved item")
    item.assignee = named
    payload = {"assignee": item.assignee}
    _record(session, item, EventKind.ALERT_ASSIGNED, payload, clock=clock, principal=principal)
    return item


def escalate_overdue(session: Session, now: datetime, *, clock: Clock | None = None) -> list[int]:
    """Unacknowledged items past their deadline: one step more urgent, a new deadline, a notice
    to the team's lead, into whose queue an item nobody holds goes (so it is never orphaned).

    Run on a schedule (the worker); idempotent for a given ``now`` because the deadline
    moves forward with each escalation.
    """

    at = clock or FrozenClock(now)
    overdue = session.scalars(
        select(WorklistItem)
        .where(WorklistItem.status == ItemStatus.OPEN, WorklistItem.due_at < now)
        .order_by(WorklistItem.due_at)
        .with_for_update(skip_locked=True)
    ).all()
    escalated = []
    for item in overdue:
        item.escalation_level += 1
        item.priority = max(0, item.priority - 1)
        new_severity = [Severity.URGENT, Severity.HIGH, Severity.ROUTINE][item.priority]
        item.due_at = now + DEFAULT_SLA[new_severity]
        lead = escalation_target(item.team)
        item.assignee = item.assignee or lead
        escalated.append(item.id)
        record_event(
            session,
            kind=EventKind.ALERT_ESCALATED,
            clock=at,
            actor="system:escalation",
            patient_id=item.patient_id,
            subject_type="worklist_item",
            subject_id=str(item.id),
            program=item.program,
            occurred_at=now,
            payload={
                "level": item.escalation_level,
                "priority": item.priority,
                "notify": lead,
                "assignee": item.assignee,
                "rule": item.rule_id,
            },
        )
    session.flush()
    return escalated


def create_task(
    session: Session,
    *,
    patient_id: str,
    rule_id: str,
    title: str,
    summary: str,
    severity: Severity,
    clock: Clock,
    actor: str,
    program: str | None = None,
    team: str | None = None,
    evidence: tuple[str, ...] = (),
    values: dict[str, Any] | None = None,
    due_by: datetime | None = None,
) -> Raised:
    """A task for a person (a call, a review) on the same worklist as alerts.

    ``due_by`` shortens the severity's SLA when the task is useless after a moment (a call
    before an exam); never below a quarter of an hour, so a late task is still due soon.
    """
    sla = DEFAULT_SLA[severity]
    if due_by is not None:
        sla = max(min(sla, due_by - clock.now()), timedelta(minutes=15))
    finding = Finding(
        rule_id=rule_id,
        title=title,
        severity=severity,
        sla_hours=sla.total_seconds() / 3600,
        patient_id=patient_id,
        summary=summary,
        values=values or {},
        evidence=evidence or ("care-team task",),
        program=program,
        team=team,
        source=None,
        task=True,
    )
    raised = raise_finding(session, finding, clock=clock, actor=actor)
    if raised.created:
        payload = {"rule": rule_id}
        _item_event(session, EventKind.TASK_CREATED, raised.item_id, finding, payload, clock, actor)
    return raised


def last_resolved_at(session: Session, *, patient_id: str, rule_id: str) -> datetime | None:
    return session.scalar(
        select(WorklistItem.resolved_at)
        .where(
            WorklistItem.patient_id == patient_id,
            WorklistItem.rule_id == rule_id,
            WorklistItem.status == ItemStatus.RESOLVED,
        )
        .order_by(WorklistItem.resolved_at.desc())
        .limit(1)
    )
