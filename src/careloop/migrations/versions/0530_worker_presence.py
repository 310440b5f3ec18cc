"""worker presence: a killed worker's senders and rows taken over at once

Revision ID: 0530
Revises: 0510
Create Date: 2026-12-06 05:40:00

A killed worker's sender leases and claimed rows waited for their leases to run out (3 s in
the dispatch benchmark, 60 s by default) before any other worker moved them. Each worker on
PostgreSQL now holds a session advisory lock while it lives and lists itself here; a listed
worker whose lock no connection holds is dead, and the others adopt its work at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import utc

revision: str = "0530"
down_revision: str | None = "0510"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outreach_worker_presence",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("lock_key", sa.Integer(), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("server_started", utc(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_outreach_worker_presence")),
    )


def downgrade() -> None:
    op.drop_table("outreach_worker_presence")
