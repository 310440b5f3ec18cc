"""Tables of the loyalty domain: the rewards ledger.

One row per reward a patient earned; the row is never deleted (a cancelled reward keeps its
row and reason), so the yearly caps are counted from the ledger itself and an audit can
always explain what was given, to whom, why and how it reached them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, PatientId, UTCDateTime


class RewardEntry(Base):
    """A reward earned: ``earned`` → ``fulfilled`` | ``cancelled`` (``loyalty.ledger``)."""

    __tablename__ = "reward_entries"

    id: Mapped[BigSerialId]
    patient_id: Mapped[PatientId]
    reward: Mapped[str] = mapped_column(String(64))
    program: Mapped[str | None] = mapped_column(String(100))
    year: Mapped[int] = mapped_column(Integer)
    value_cents: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16))
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime())
    earned_by: Mapped[str] = mapped_column(String(128))
    fulfilled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fulfilled_by: Mapped[str | None] = mapped_column(String(128))
    fulfilment: Mapped[str | None] = mapped_column(String(16))
    fulfilment_ref: Mapped[str | None] = mapped_column(String(128))
    cancelled_reason: Mapped[str | None] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("patient_id", "reward", "source_key"),
        Index("ix_reward_entries_patient_year", "patient_id", "year"),
    )
