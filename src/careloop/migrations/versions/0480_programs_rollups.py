"""programs_rollups: the programs page's report, precomputed by a job

Revision ID: 0480
Revises: 0460
Create Date: 2026-12-05 18:20:00

The programs page aggregated the whole event log of its period on every request (8.6 s at
10,000 patients); the ``programs-rollup`` job stores the report here and the page reads it
(issue 18 item 6).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision: str = "0480"
down_revision: str | None = "0460"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "programs_rollups",
        sa.Column("weeks", sa.Integer(), nullable=False),
        sa.Column("period_start", utc(), nullable=False),
        sa.Column("computed_at", utc(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("weekly", JSON, nullable=False),
        sa.PrimaryKeyConstraint("weeks"),
    )


def downgrade() -> None:
    op.drop_table("programs_rollups")
