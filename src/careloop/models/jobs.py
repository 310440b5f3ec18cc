"""The periodic jobs' lease and last-run record: one row per job, shared by every process."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import UTCDateTime


class JobRun(Base):
    """A periodic job: who holds its lease, when it last ran and how, when it runs next.

    A process runs a job only after a conditional UPDATE made it the lease holder, so two
    workers (or ``serve`` and a worker) never run the same job at once or twice per period.
    """

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(String(200))
    last_owner: Mapped[str | None] = mapped_column(String(128))
    runs: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
