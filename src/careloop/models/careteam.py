"""Tables of the care team's worklist: alerts and tasks, and care-plan adjustment proposals.

Alerts and call tasks share one table so that one worklist orders them together by
priority and deadline. ``open_key`` is ``patient|rule`` while an item is open and NULL once
resolved; its unique index is what makes "one open alert per patient and rule" hold even
with several ingest workers racing (NULLs never collide).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Computed,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import (
    BigSerialId,
    IndexedPatientId,
    JSONType,
    UTCDateTime,
    partial_index,
)

SEVERITY_RANK_SQL = (
    "CASE severity WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'routine' THEN 2 ELSE 3 END"
)
"""The worklist's order within a priority: a true urgent alert before an escalated high one."""
ACTIVE_SQL = "status IN ('open', 'acknowledged')"
"""The items the worklist shows (``careteam.alerts.ACTIVE``), as the partial index's condition."""
OPEN_CALLS_SQL = f"rule_id LIKE 'outreach-call:%' AND {ACTIVE_SQL}"
"""The call queue's tasks (``careteam.callqueue.CALL_RULE_PREFIX``), active."""


class WorklistItem(Base):
    """An alert raised by a clinical rule, or a task for a person (a call, a review)."""

    __tablename__ = "worklist_items"

    id: Mapped[BigSerialId]
    kind: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    rule_id: Mapped[str] = mapped_column(String(100))
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    severity: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), index=True)
    program: Mapped[str | None] = mapped_column(String(128))
    team: Mapped[str | None] = mapped_column(String(128))
    assignee: Mapped[str | None] = mapped_column(String(128))
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    suppressed: Mapped[int] = mapped_column(Integer, default=0)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    evidence: Mapped[list[str]] = mapped_column(JSONType, default=list)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str | None] = mapped_column(Text)
    severity_rank: Mapped[int] = mapped_column(
        SmallInteger, Computed(SEVERITY_RANK_SQL), nullable=True
    )
    """The worklist's second sort key (urgent 0, high 1, routine 2, else 3), kept by the
    database from ``severity`` so an index can give the page its order. The column is
    nullable as migration 0500 made it (a generated column added to a filled table); the
    ``CASE`` has an ``ELSE``, so it is never NULL, hence ``int``."""

    __table_args__ = (
        partial_index(
            "ix_worklist_items_active_order",
            "priority",
            "severity_rank",
            "due_at",
            "id",
            where=ACTIVE_SQL,
        ),
        partial_index("ix_worklist_items_open_calls", "due_at", "id", where=OPEN_CALLS_SQL),
        partial_index(
            "ix_worklist_items_active_groups",
            "program",
            "team",
            "assignee",
            "severity",
            where=ACTIVE_SQL,
        ),
        Index("ix_worklist_items_queue", "status", "priority", "due_at"),
        Index("ix_worklist_items_patient_rule", "patient_id", "rule_id"),
        Index("ix_worklist_items_raised_at", "raised_at"),
    )


class PlanAdjustment(Base):
    """A proposed care-plan change awaiting a clinician; ``task`` is its FHIR Task."""

    __tablename__ = "plan_adjustments"

    id: Mapped[BigSerialId]
    patient_id: Mapped[IndexedPatientId]
    item_id: Mapped[int | None] = mapped_column(
        # Indexed: every worklist page looks up its cards' proposals by item.
        ForeignKey("worklist_items.id", ondelete="SET NULL"),
        index=True,
    )
    rule_id: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), index=True)
    reason: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    task: Mapped[dict[str, Any]] = mapped_column(JSONType)
    proposed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    proposed_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_note: Mapped[str | None] = mapped_column(Text)
