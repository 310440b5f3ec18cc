"""Tables of the personalization engine: preference profiles, decisions, learned model state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, UTCDateTime


class PreferenceProfileRow(Base):
    """A patient's stated preferences and, per program, the engine's learned state for them.

    Keyed by the patient id string (no foreign key: the engine is a leaf and profiles may be
    set before a record is imported).
    """

    __tablename__ = "preference_profiles"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    stated: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    learned: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(String(128))


class DecisionRow(Base):
    """One engine decision as it was made: options, removals, action, propensity, sentence.

    ``features`` keeps the covariate row the decision used, so learning from its reward later
    needs nothing but this log; ``reward``/``learned_at`` are set once the reward is resolved.
    """

    __tablename__ = "personalize_decisions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    program: Mapped[str] = mapped_column(String(128))  # led by the (program, learned_at) index
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    channel: Mapped[str | None] = mapped_column(String(16))
    send_window: Mapped[str | None] = mapped_column(String(16))
    reading_level: Mapped[str | None] = mapped_column(String(16))
    tone: Mapped[str | None] = mapped_column(String(16))
    framing: Mapped[str | None] = mapped_column(String(16))  # programs that choose one
    language: Mapped[str] = mapped_column(String(35))
    propensity: Mapped[float | None] = mapped_column(Float)
    factor_propensities: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    removals: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    features: Mapped[list[float]] = mapped_column(JSONType, default=list)
    explanation: Mapped[str] = mapped_column(Text)
    explored: Mapped[bool] = mapped_column(Boolean, default=False)
    model_version: Mapped[str] = mapped_column(String(64))
    reward: Mapped[float | None] = mapped_column(Float)
    learned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_personalize_decisions_program_learned", "program", "learned_at"),)


class ModelStateRow(Base):
    """The pooled posterior of one program's engine (JSON arrays)."""

    __tablename__ = "personalize_model_states"

    program: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    version: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
