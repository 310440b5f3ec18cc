"""loyalty: the rewards ledger (issue 25)

Revision ID: 0210
Revises: 0200
Create Date: 2026-12-05 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types

revision: str = "0210"
down_revision: str | None = "0200"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _utc() -> careloop.models.types.UTCDateTime:
    return careloop.models.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reward_entries",
        sa.Column("id", _ID, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("reward", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=100), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value_cents", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("earned_at", _utc(), nullable=False),
        sa.Column("earned_by", sa.String(length=128), nullable=False),
        sa.Column("fulfilled_at", _utc(), nullable=True),
        sa.Column("fulfilled_by", sa.String(length=128), nullable=True),
        sa.Column("fulfilment", sa.String(length=16), nullable=True),
        sa.Column("fulfilment_ref", sa.String(length=128), nullable=True),
        sa.Column("cancelled_reason", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_reward_entries_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_entries")),
        sa.UniqueConstraint(
            "patient_id",
            "reward",
            "source_key",
            name=op.f("uq_reward_entries_patient_id_reward_source_key"),
        ),
    )
    op.create_index("ix_reward_entries_patient_year", "reward_entries", ["patient_id", "year"])


def downgrade() -> None:
    op.drop_index("ix_reward_entries_patient_year", table_name="reward_entries")
    op.drop_table("reward_entries")
