"""medications: dose slots, confirmations, exam preparation journeys, adverse-event cases"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0190"
down_revision = "0180"


def upgrade() -> None:
    op.create_table(
        "medication_slots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        sa.Column("medication_key", sa.String(128), nullable=False),
        sa.Column("medication", sa.String(200), nullable=False),
        sa.Column("slot", sa.String(32), nullable=False),
        sa.Column("default_minute", sa.Integer(), nullable=False),
        sa.Column("timing", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("paused_until", utc(), nullable=True),
        sa.Column("snoozed_until", utc(), nullable=True),
        sa.Column("caregiver_managed", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("last_reminded_on", sa.Date(), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
        sa.UniqueConstraint("patient_id", "medication_key", "slot"),
    )
    ddl.create_indexes("medication_slots", ddl.index("patient_id"))
    op.create_table(
        "dose_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "slot_id",
            sa.Integer(),
            sa.ForeignKey("medication_slots.id", ondelete="CASCADE"),
            nullable=False,
        ),
        ddl.patient_column(),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("confirmed_at", utc(), nullable=False),
        sa.Column("local_minute", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    ddl.create_indexes("dose_confirmations", ddl.index("slot_id"), ddl.index("patient_id"))
    op.create_table(
        "prep_journeys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("appointment_at", utc(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("task_item_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
    )
    ddl.create_indexes("prep_journeys", ddl.index("patient_id"))
    op.create_table(
        "adverse_event_cases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        sa.Column("program", sa.String(64), nullable=False),
        sa.Column("product", sa.String(200), nullable=False),
        sa.Column("product_code", sa.String(128), nullable=True),
        sa.Column("reporter", sa.String(32), nullable=False),
        sa.Column("event_terms", JSON, nullable=False),
        sa.Column("serious", sa.Boolean(), nullable=False),
        sa.Column("seriousness", JSON, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        sa.Column("due_at", utc(), nullable=False),
        sa.Column("triaged_at", utc(), nullable=True),
        sa.Column("triaged_by", sa.String(128), nullable=True),
        sa.Column("extra", JSON, nullable=False),
    )
    ddl.create_indexes("adverse_event_cases", ddl.index("patient_id"), ddl.index("status"))


def downgrade() -> None:
    ddl.drop_tables(
        "adverse_event_cases", "prep_journeys", "dose_confirmations", "medication_slots"
    )
