"""medications: dose slots, confirmations, exam preparation journeys, adverse-event cases"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import JSON, utc

revision = "0190"
down_revision = "0180"


def _patient() -> sa.Column[str]:
    return sa.Column(
        "patient_id",
        sa.String(64),
        sa.ForeignKey("patients.id", ondelete="CASCADE"),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "medication_slots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _patient(),
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
    op.create_index("ix_medication_slots_patient_id", "medication_slots", ["patient_id"])
    op.create_table(
        "dose_confirmations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "slot_id",
            sa.Integer(),
            sa.ForeignKey("medication_slots.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _patient(),
        sa.Column("answer", sa.String(16), nullable=False),
        sa.Column("confirmed_at", utc(), nullable=False),
        sa.Column("local_minute", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("source", sa.String(200), nullable=True),
        sa.Column("created_by", sa.String(128), nullable=False),
    )
    op.create_index("ix_dose_confirmations_slot_id", "dose_confirmations", ["slot_id"])
    op.create_index("ix_dose_confirmations_patient_id", "dose_confirmations", ["patient_id"])
    op.create_table(
        "prep_journeys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _patient(),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("appointment_at", utc(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("wrong_answers", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("task_item_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
    )
    op.create_index("ix_prep_journeys_patient_id", "prep_journeys", ["patient_id"])
    op.create_table(
        "adverse_event_cases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        _patient(),
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
    op.create_index("ix_adverse_event_cases_patient_id", "adverse_event_cases", ["patient_id"])
    op.create_index("ix_adverse_event_cases_status", "adverse_event_cases", ["status"])


def downgrade() -> None:
    op.drop_table("adverse_event_cases")
    op.drop_table("prep_journeys")
    op.drop_table("dose_confirmations")
    op.drop_table("medication_slots")
