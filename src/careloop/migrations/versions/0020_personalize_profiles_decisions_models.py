"""personalize: preference profiles, decisions, learned model state"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0020"
down_revision = "0010"


def upgrade() -> None:
    ddl.create_table(
        "preference_profiles",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("stated", JSON, nullable=False),
        sa.Column("learned", JSON, nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        key=("patient_id",),
    )
    ddl.create_table(
        "personalize_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=128), nullable=False),
        sa.Column("decided_at", utc(), nullable=False),
        sa.Column("send_at", utc(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("send_window", sa.String(length=16), nullable=True),
        sa.Column("reading_level", sa.String(length=16), nullable=True),
        sa.Column("tone", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=True),
        sa.Column("factor_propensities", JSON, nullable=False),
        sa.Column("options", JSON, nullable=False),
        sa.Column("removals", JSON, nullable=False),
        sa.Column("features", JSON, nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("explored", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("learned_at", utc(), nullable=True),
        indexes=(
            *ddl.indexed("decided_at", "patient_id", "program"),
            ddl.index("program", "learned_at", name="ix_personalize_decisions_program_learned"),
        ),
    )
    ddl.create_table(
        "personalize_model_states",
        sa.Column("program", sa.String(length=128), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        key=("program",),
    )


def downgrade() -> None:
    ddl.drop_tables("personalize_model_states", "personalize_decisions", "preference_profiles")
