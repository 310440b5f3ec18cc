"""Column types every revision shares, so a revision states only its own tables.

Revisions must not import live domain code (the models change after them); these types are
frozen here, beside the revisions, and only ever extended."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from careloop.models.types import UTCDateTime

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
"""JSON on SQLite, JSONB on PostgreSQL."""

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""A surrogate key: BIGINT on PostgreSQL, INTEGER (the rowid alias) on SQLite."""


def utc() -> UTCDateTime:
    """A timestamp stored in UTC and read back timezone-aware."""
    return UTCDateTime(timezone=True)
