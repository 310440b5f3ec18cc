"""The append-only event log: the spine every capability writes to and learns from."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, JSONType, UTCDateTime


class Event(Base):
    """Something that happened, to whom, when, by whom or what. Never updated.

    ``occurred_at`` is when it happened in the domain (the injected clock);
    ``recorded_at`` is when it was written. A database trigger refuses UPDATE.
    """

    __tablename__ = "events"

    id: Mapped[BigSerialId]
    # kind and patient_id: indexed only as the first columns of the composites below
    # (a single-column index beside them costs every write and serves no query: 0540).
    kind: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str | None] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(128))
    subject_type: Mapped[str | None] = mapped_column(String(64))
    subject_id: Mapped[str | None] = mapped_column(String(128))
    program: Mapped[str | None] = mapped_column(String(128), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)

    __table_args__ = (
        Index("ix_events_patient_kind", "patient_id", "kind"),
        Index("ix_events_kind_occurred", "kind", "occurred_at"),
    )
