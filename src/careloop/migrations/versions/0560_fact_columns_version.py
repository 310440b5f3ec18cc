"""resource_facts.columns_version: which facts' typed columns are computed; the backfill's place

Revision ID: 0560
Revises: 0550
Create Date: 2026-12-06 14:30:00

A NULL typed column (0550) means either "absent" (no status, no quantity) or "not computed
yet" (a fact stored before 0550). ``columns_version`` tells them apart: the import writers
set it to the version of the rules they computed the columns by (``records.fact_columns``),
the background backfill (``careloop records backfill-facts``, the ``fact-backfill`` job) sets
it on the rows it fills in; NULL means not computed, and readers then use the fact itself.
``fact_columns_backfill`` holds the backfill's place (the last key done, per version), so it
resumes where it stopped and, once finished, costs nothing. Both are added instantly.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision: str = "0560"
down_revision: str | None = "0550"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    ddl.add_columns("resource_facts", *ddl.columns("columns_version int?"))
    op.create_table(
        "fact_columns_backfill",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("after_type", sa.String(length=64), nullable=False),
        sa.Column("after_id", sa.String(length=128), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("finished_at", utc(), nullable=True),
        sa.PrimaryKeyConstraint("version", name=op.f("pk_fact_columns_backfill")),
    )


def downgrade() -> None:
    op.drop_table("fact_columns_backfill")
    ddl.drop_columns("resource_facts", "columns_version")
