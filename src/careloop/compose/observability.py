"""Operational counts for ``/metrics`` and ``/ready``: aggregates only, never a patient.

Read at scrape time from the database, so every process (web, workers) is reflected
whichever one is scraped: the outbox by state, sends by channel and outcome, open alerts by
severity with the age of the oldest, and the periodic jobs' runs, failures and last run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.careteam.alerts import ItemKind, ItemStatus
from careloop.models import JobRun, OutboxMessage, SendAttempt, WorklistItem
from careloop.outreach.service import outbox_summary


@dataclass
class OperationalCounts:
    outbox_by_state: dict[str, int] = field(default_factory=dict)
    sends: dict[tuple[str, str], int] = field(default_factory=dict)
    open_alerts: dict[str, int] = field(default_factory=dict)
    oldest_alert_seconds: dict[str, float] = field(default_factory=dict)
    jobs: list[JobRun] = field(default_factory=list)


def operational_counts(session: Session, *, now: datetime) -> OperationalCounts:
    counts = OperationalCounts(outbox_by_state=outbox_summary(session))
    sends = session.execute(
        select(OutboxMessage.channel, SendAttempt.outcome, func.count())
        .join(OutboxMessage, OutboxMessage.id == SendAttempt.message_id)
        .where(SendAttempt.outcome.is_not(None))
        .group_by(OutboxMessage.channel, SendAttempt.outcome)
    )
    counts.sends = {(channel, str(outcome)): n for channel, outcome, n in sends}
    alerts = session.execute(
        select(WorklistItem.severity, func.count(), func.min(WorklistItem.raised_at))
        .where(
            WorklistItem.kind == str(ItemKind.ALERT),
            WorklistItem.status == str(ItemStatus.OPEN),
        )
        .group_by(WorklistItem.severity)
    )
    for severity, n, oldest in alerts:
        counts.open_alerts[severity] = n
        if oldest is not None:
            counts.oldest_alert_seconds[severity] = max((now - oldest).total_seconds(), 0.0)
    counts.jobs = list(session.scalars(select(JobRun).order_by(JobRun.name)))
    return counts


def workers_seen_since(session: Session, since: datetime) -> bool:
    """Whether any process ran (or started) a periodic job since ``since``."""
    last = session.scalar(select(func.max(JobRun.last_started_at)))
    return last is not None and last >= since
