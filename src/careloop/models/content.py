"""Message library tables: messages and every version of every variant, with approval.

A version row is immutable in its words (``parts``, ``content_hash``); only its approval
state moves, through the named transitions in ``careloop.content.approval``. A sent message
records the ``content_versions.id`` it was rendered from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, JSONType, UTCDateTime


class ContentMessage(Base):
    """A call to action, whatever its wording: its declared sensitivity and fields."""

    __tablename__ = "content_messages"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    sensitivity: Mapped[str] = mapped_column(String(16))
    fields: Mapped[list[str]] = mapped_column(JSONType, default=list)
    grade_rule: Mapped[str] = mapped_column(String(16), default="band")
    framing_of: Mapped[str | None] = mapped_column(String(100))  # framed messages only
    framing: Mapped[str | None] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("sensitivity IN ('general', 'clinical')", name="sensitivity"),
    )


class ContentVersion(Base):
    """One version of one variant (message × language × level × tone × channel)."""

    __tablename__ = "content_versions"

    id: Mapped[BigSerialId]
    message: Mapped[str] = mapped_column(
        String(100), ForeignKey("content_messages.name", ondelete="RESTRICT")
    )
    language: Mapped[str] = mapped_column(String(35))
    reading_level: Mapped[str] = mapped_column(String(16))
    tone: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    parts: Mapped[dict[str, Any]] = mapped_column(JSONType)
    state: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))  # "library" (shipped YAML) or "api"
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    approved_by: Mapped[str | None] = mapped_column(String(128))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_by: Mapped[str | None] = mapped_column(String(128))
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retired_reason: Mapped[str | None] = mapped_column(String(300))

    __table_args__ = (
        UniqueConstraint(
            "message",
            "language",
            "reading_level",
            "tone",
            "channel",
            "version",
            name="uq_content_versions_variant_version",
        ),
        CheckConstraint("state IN ('draft', 'approved', 'retired')", name="state"),
        Index("ix_content_versions_message_language_state", "message", "language", "state"),
        # At most one approved version per variant, enforced by the database itself.
        Index(
            "uq_content_versions_one_approved",
            "message",
            "language",
            "reading_level",
            "tone",
            "channel",
            unique=True,
            postgresql_where=text("state = 'approved'"),
            sqlite_where=text("state = 'approved'"),
        ),
    )
