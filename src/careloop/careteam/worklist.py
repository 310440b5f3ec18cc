"""The worklist: active alerts and tasks, most pressing first, and the alert burden.

Order: priority (severity, raised by escalation), then the original severity (an escalated
high alert never overtakes a true urgent one), then the acknowledgement deadline.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict, Unpack

from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from careloop.careteam.alerts import ACTIVE, ItemStatus
from careloop.careteam.assignees import escalation_target
from careloop.events import EventKind
from careloop.models import Event, PlanAdjustment, WorklistItem
from careloop.queryfilters import where_given


class WorklistEntry(BaseModel):
    id: int
    kind: str
    patient_id: str | None
    rule_id: str
    title: str
    severity: str
    priority: int
    status: str
    program: str | None
    team: str | None
    assignee: str | None
    occurrences: int
    suppressed: int
    escalation_level: int
    escalated_to: str | None  # the lead an escalation notified (``lead:<team>``)
    raised_at: datetime
    last_seen_at: datetime
    due_at: datetime
    overdue: bool
    latest: dict[str, Any] | None
    evidence: list[str]
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None
    proposals: list[int]


def entry_of(
    item: WorklistItem, *, now: datetime, proposals: list[int] | None = None
) -> WorklistEntry:
    return WorklistEntry(
        id=item.id,
        kind=item.kind,
        patient_id=item.patient_id,
        rule_id=item.rule_id,
        title=item.title,
        severity=item.severity,
        priority=item.priority,
        status=item.status,
        program=item.program,
        team=item.team,
        assignee=item.assignee,
        occurrences=item.occurrences,
        suppressed=item.suppressed,
        escalation_level=item.escalation_level,
        escalated_to=escalation_target(item.team) if item.escalation_level else None,
        raised_at=item.raised_at,
        last_seen_at=item.last_seen_at,
        due_at=item.due_at,
        overdue=item.status == ItemStatus.OPEN and item.due_at < now,
        latest=item.findings[-1] if item.findings else None,
        evidence=list(item.evidence),
        acknowledged_at=item.acknowledged_at,
        resolved_at=item.resolved_at,
        outcome=item.outcome,
        proposals=proposals or [],
    )


class WorklistFilter(TypedDict, total=False):
    """Which items a read wants: every key is optional, an absent or ``None`` one filters nothing.

    One definition for listing and counting, so a page's count always matches its list.
    """

    program: str | None
    team: str | None
    assignee: str | None
    severity: str | None
    kind: str | None
    patient_id: str | None
    include_resolved: bool
    since: datetime | None


_EQUAL = ("program", "team", "assignee", "severity", "kind", "patient_id")
"""The filters that are a plain equality on the column of the same name."""


def list_worklist(
    session: Session,
    *,
    now: datetime,
    limit: int = 200,
    offset: int = 0,
    **where: Unpack[WorklistFilter],
) -> list[WorklistEntry]:
    """Active items (or all, with ``include_resolved``) filtered and ordered for the team."""
    query = (
        _filtered(select(WorklistItem), where)
        .order_by(
            WorklistItem.priority,
            WorklistItem.severity_rank,
            WorklistItem.due_at,
            WorklistItem.id,
        )
        .limit(limit)
        .offset(offset)
    )
    items = list(session.scalars(query))
    pending: dict[int, list[int]] = {}
    if items:
        rows = session.execute(
            select(PlanAdjustment.item_id, PlanAdjustment.id).where(
                PlanAdjustment.item_id.in_([i.id for i in items]),
                PlanAdjustment.status == "proposed",
            )
        )
        for item_id, plan_id in rows:
            pending.setdefault(item_id, []).append(plan_id)
    return [entry_of(i, now=now, proposals=pending.get(i.id)) for i in items]


def _filtered(query: Select[Any], where: WorklistFilter) -> Select[Any]:
    if not where.get("include_resolved", False):
        query = query.where(WorklistItem.status.in_([str(s) for s in ACTIVE]))
    query = where_given(query, *((getattr(WorklistItem, name), where.get(name)) for name in _EQUAL))
    since = where.get("since")
    if since is not None:
        query = query.where(WorklistItem.raised_at >= since)
    return query


def count_worklist(session: Session, **where: Unpack[WorklistFilter]) -> int:
    """How many items match (the page shows one page of them and says of how many)."""
    query = _filtered(select(func.count()).select_from(WorklistItem), where)
    return int(session.scalar(query) or 0)


class ActiveSummary(BaseModel):
    """The active items counted by program, team, assignee and severity: what the page's
    filters can pick, how many items are open and how many match a filter, from one read."""

    groups: list[tuple[str | None, str | None, str | None, str, int]]

    def values(self) -> dict[str, list[str]]:
        """The programs, teams and assignees of active items, sorted."""
        found: dict[str, set[str]] = {"program": set(), "team": set(), "assignee": set()}
        for group in self.groups:
            for name, value in zip(found, group[:3], strict=True):
                if value is not None:
                    found[name].add(str(value))
        return {name: sorted(values) for name, values in found.items()}

    def count(self, **where: Unpack[WorklistFilter]) -> int:
        """Active items matching ``program``, ``team``, ``assignee`` and ``severity`` (the
        filters :func:`count_worklist` applies to them)."""
        wanted = [where.get(name) for name in ("program", "team", "assignee", "severity")]
        return sum(
            group[4]
            for group in self.groups
            if all(w is None or w == have for w, have in zip(wanted, group[:4], strict=True))
        )


def active_summary(session: Session) -> ActiveSummary:
    """One ``GROUP BY`` over the active items (answered from a covering partial index): it
    replaces a ``DISTINCT`` for the filter choices and one or two counts, each a read of every
    open item (51,600 at 100,000 patients)."""
    columns = (WorklistItem.program, WorklistItem.team, WorklistItem.assignee)
    query = _filtered(
        select(*columns, WorklistItem.severity, func.count()).group_by(
            *columns, WorklistItem.severity
        ),
        {},
    )
    return ActiveSummary(
        groups=[(p, t, a, str(sev), int(n)) for p, t, a, sev, n in session.execute(query)]
    )


def alert_burden(session: Session, *, since: datetime, until: datetime) -> dict[str, Any]:
    """Alerts per check-in and per reading over a period, from the event log.

    PRO-TECT reported alerts on 34 % of surveys; a figure far above that for a program is a
    sign its thresholds or suppression need review.
    """
    counts: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Event.kind, func.count())
            .where(Event.occurred_at >= since, Event.occurred_at < until)
            .where(
                Event.kind.in_(
                    [
                        EventKind.CHECKIN_SUBMITTED,
                        EventKind.READING_RECEIVED,
                        EventKind.ALERT_RAISED,
                        EventKind.ALERT_REPEATED,
                        EventKind.ALERT_SUPPRESSED,
                    ]
                )
            )
            .group_by(Event.kind)
        ).all()
    )
    checkins = int(counts.get(EventKind.CHECKIN_SUBMITTED, 0))
    readings = int(counts.get(EventKind.READING_RECEIVED, 0))
    raised = int(counts.get(EventKind.ALERT_RAISED, 0))
    sources = session.scalars(
        select(Event.payload).where(
            Event.kind == EventKind.ALERT_RAISED,
            Event.occurred_at >= since,
            Event.occurred_at < until,
        )
    )
    from_checkins = sum(
        1 for p in sources if str(p.get("source") or "").startswith("QuestionnaireResponse/")
    )
    return {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "checkins": checkins,
        "readings": readings,
        "alerts_raised": raised,
        "repeats_absorbed": int(counts.get(EventKind.ALERT_REPEATED, 0)),
        "suppressed": int(counts.get(EventKind.ALERT_SUPPRESSED, 0)),
        "alerts_from_checkins": from_checkins,
        "alerts_per_checkin": round(from_checkins / checkins, 3) if checkins else None,
        "alerts_per_input": round(raised / (checkins + readings), 3)
        if checkins + readings
        else None,
    }


def items_of(
    session: Session, *, patient_ids: list[str] | None = None, item_ids: list[int] | None = None
) -> list[WorklistItem]:
    """Alerts and tasks in any state (for the FHIR write-back), oldest first."""
    query = select(WorklistItem).order_by(WorklistItem.id)
    if patient_ids is not None:
        query = query.where(WorklistItem.patient_id.in_(patient_ids))
    if item_ids is not None:
        query = query.where(WorklistItem.id.in_(item_ids))
    return list(session.scalars(query))


def adjustments_of(
    session: Session, *, patient_ids: list[str] | None = None
) -> list[PlanAdjustment]:
    """Plan adjustments in any state (for the FHIR write-back), oldest first."""
    query = select(PlanAdjustment).order_by(PlanAdjustment.id)
    if patient_ids is not None:
        query = query.where(PlanAdjustment.patient_id.in_(patient_ids))
    return list(session.scalars(query))
