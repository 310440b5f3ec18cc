"""Precomputed report figures: what the console's programs page reads instead of the log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, UTCDateTime


class ProgramsRollup(Base):
    """The programs page's report over the last ``weeks`` weeks, as of ``computed_at``.

    Written by the ``programs-rollup`` job (one row per window length, replaced each run):
    the report aggregates the whole event log of the period, minutes at population scale,
    so the page reads these figures and says when they were computed.
    """

    __tablename__ = "programs_rollups"

    weeks: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)
    weekly: Mapped[list[Any]] = mapped_column(JSONType)
