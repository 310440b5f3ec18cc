"""number opt-outs: a caregiver's STOP stops texts to the caregiver's number only

Revision ID: 0630
Revises: 0580
Create Date: 2026-12-08 15:00:00

A STOP answering a caregiver's copy of a reminder was taken as the patient's own: the
patient's SMS consent denied, their queued texts dead-lettered and journeys ended. The
caregiver's STOP (and START) is now kept per number, apart from the patient's consent.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, utc

revision: str = "0630"
down_revision: str | None = "0580"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "number_opt_outs",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=True),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_number_opt_outs")),
    )
    op.create_index(op.f("ix_number_opt_outs_address"), "number_opt_outs", ["address"])


def downgrade() -> None:
    op.drop_index(op.f("ix_number_opt_outs_address"), table_name="number_opt_outs")
    op.drop_table("number_opt_outs")
