"""medications: dose slots, confirmations, exam preparation journeys, adverse-event cases"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl

revision = "0190"
down_revision = "0180"


def upgrade() -> None:
    op.create_table(
        "medication_slots",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        *ddl.columns(
            "medication_key str128, medication str200, slot str32, default_minute int",
            "timing str64, status str16, paused_until utc?, snoozed_until utc?",
            "caregiver_managed bool, source str200, last_reminded_on date?, updated_at utc",
        ),
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
        *ddl.columns(
            "answer str16, confirmed_at utc, local_minute int, channel str16, source str200?",
            "created_by str128",
        ),
    )
    ddl.create_indexes("dose_confirmations", ddl.index("slot_id"), ddl.index("patient_id"))
    op.create_table(
        "prep_journeys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        *ddl.columns(
            "kind str64, appointment_at utc, step int, wrong_answers int, status str16",
            "outcome str32?, task_item_id int?, updated_at utc",
        ),
    )
    ddl.create_indexes("prep_journeys", ddl.index("patient_id"))
    op.create_table(
        "adverse_event_cases",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        ddl.patient_column(),
        *ddl.columns(
            "program str64, product str200, product_code str128?, reporter str32, event_terms json",
            "serious bool, seriousness json, channel str16, status str16, received_at utc",
            "due_at utc, triaged_at utc?, triaged_by str128?, extra json",
        ),
    )
    ddl.create_indexes("adverse_event_cases", ddl.index("patient_id"), ddl.index("status"))


def downgrade() -> None:
    ddl.drop_tables(
        "adverse_event_cases", "prep_journeys", "dose_confirmations", "medication_slots"
    )
