"""loyalty: the rewards ledger (issue 25)"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import utc

revision = "0210"
down_revision = "0200"


def upgrade() -> None:
    ddl.create_table(
        "reward_entries",
        ddl.surrogate_id(),
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
        refs=(ddl.PATIENT,),
        unique=(ddl.index("patient_id", "reward", "source_key"),),
        indexes=(ddl.index("patient_id", "year", name="ix_reward_entries_patient_year"),),
    )


def downgrade() -> None:
    ddl.drop_tables("reward_entries")
