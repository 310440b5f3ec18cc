"""loyalty: the rewards ledger (issue 25)"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, utc

revision = "0210"
down_revision = "0200"


def upgrade() -> None:
    op.create_table(
        "reward_entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("reward", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=100), nullable=True),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("value_cents", sa.Integer(), nullable=False),
        sa.Column("source_key", sa.String(length=128), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("earned_at", utc(), nullable=False),
        sa.Column("earned_by", sa.String(length=128), nullable=False),
        sa.Column("fulfilled_at", utc(), nullable=True),
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
