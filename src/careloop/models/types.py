"""Column types shared by every table: UTC datetimes, portable JSON, the usual keys."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, ForeignKey, Index, Integer, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored in UTC; naive values are refused, never guessed.

    SQLite has no timezone type, so values come back naive there and are re-tagged as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")

SerialId = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
"""A table's own integer key, numbered by the database."""
BigInt = BigInteger().with_variant(Integer, "sqlite")
"""A 64-bit count or key: SQLite's INTEGER is already 64-bit and only it autoincrements."""
BigSerialId = Annotated[int, mapped_column(BigInt, primary_key=True, autoincrement=True)]
"""A :data:`SerialId` of a table that grows past 2**31 rows (events, messages, audit)."""
PatientId = Annotated[str, mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))]
"""The patient a row belongs to; erasing the patient erases the row."""
IndexedPatientId = Annotated[
    str, mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
]
"""A :data:`PatientId` the table is searched by."""


def partial_index(name: str, *columns: str, where: str) -> Index:
    """An index over the rows ``where`` holds (SQL text), on PostgreSQL and SQLite alike: a
    page's list (the active worklist, open offers) in its order, whatever the rest weighs."""
    return Index(name, *columns, postgresql_where=text(where), sqlite_where=text(where))
