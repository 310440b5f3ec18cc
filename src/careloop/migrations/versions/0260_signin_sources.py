"""signin sources: the per-address sign-in back-off, shared by every web process

Revision ID: 0260
Revises: 0240
Create Date: 2026-12-05 06:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types

revision: str = "0260"
down_revision: str | None = "0240"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> careloop.models.types.UTCDateTime:
    return careloop.models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "signin_sources",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("wait_until", _utc(), nullable=False),
        sa.Column("last_failure_at", _utc(), nullable=False),
    )
    op.create_index("ix_signin_sources_last_failure_at", "signin_sources", ["last_failure_at"])


def downgrade() -> None:
    op.drop_index("ix_signin_sources_last_failure_at", table_name="signin_sources")
    op.drop_table("signin_sources")
