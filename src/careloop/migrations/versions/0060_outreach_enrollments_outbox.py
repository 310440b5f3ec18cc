"""outreach: enrollments, outbox, send attempts, sender slots, inbound replies"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import ID, JSON, utc

revision = "0060"
down_revision = "0040"


def upgrade() -> None:
    ddl.create_table(
        "outreach_enrollments",
        ddl.surrogate_id(),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=128), nullable=False),
        sa.Column("episode", sa.String(length=200), nullable=False),
        sa.Column("arm", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("anchors", JSON, nullable=False),
        sa.Column("fields", JSON, nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("step_due_at", utc(), nullable=True),
        sa.Column("last_step_at", utc(), nullable=True),
        sa.Column("unanswered", sa.Integer(), nullable=False),
        sa.Column("escalated_at", utc(), nullable=True),
        sa.Column("last_reply_at", utc(), nullable=True),
        sa.Column("enrolled_at", utc(), nullable=False),
        sa.Column("state_changed_at", utc(), nullable=False),
        sa.Column("follow_until", utc(), nullable=True),
        sa.Column("ended_reason", sa.String(length=64), nullable=True),
        refs=(ddl.PATIENT,),
        indexes=(
            ddl.index(
                "program",
                "patient_id",
                "episode",
                name="uq_outreach_enrollments_program_patient_episode",
                unique=True,
            ),
            ddl.index("state", "step_due_at", name="ix_outreach_enrollments_due"),
            ddl.index("patient_id", "state", name="ix_outreach_enrollments_patient"),
        ),
    )

    ddl.create_table(
        "outreach_outbox",
        ddl.surrogate_id(),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("enrollment_id", ID, nullable=True),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("program", sa.String(length=128), nullable=True),
        sa.Column("step", sa.String(length=64), nullable=True),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("recipient_kind", sa.String(length=16), nullable=False),
        sa.Column("caregiver_id", sa.String(length=128), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=200), nullable=True),
        sa.Column("to_address", sa.String(length=320), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("extra", JSON, nullable=False),
        sa.Column("content_message", sa.String(length=128), nullable=True),
        sa.Column("content_version_id", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.String(length=36), nullable=True),
        sa.Column("propensity", sa.Float(), nullable=True),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("due_at", utc(), nullable=False),
        sa.Column("next_attempt_at", utc(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("lease_until", utc(), nullable=True),
        sa.Column("provider_id", sa.String(length=200), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("dead_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("sent_at", utc(), nullable=True),
        sa.Column("delivered_at", utc(), nullable=True),
        sa.Column("updated_at", utc(), nullable=False),
        refs=(ddl.Ref("enrollment_id", "outreach_enrollments.id", ondelete="SET NULL"),),
        unique=("idempotency_key",),
        indexes=(
            *ddl.indexed("enrollment_id", "patient_id", "provider_id"),
            ddl.index("state", "next_attempt_at", name="ix_outreach_outbox_claim"),
        ),
    )

    ddl.create_table(
        "outreach_attempts",
        ddl.surrogate_id(),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("slot_at", utc(), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        refs=(ddl.Ref("message_id", "outreach_outbox.id"),),
        indexes=(ddl.index("message_id"),),
    )

    ddl.create_table(
        "outreach_sender_slots",
        sa.Column("sender_key", sa.String(length=240), nullable=False),
        sa.Column("next_slot_at", utc(), nullable=False),
        key=("sender_key",),
    )

    ddl.create_table(
        "outreach_inbound",
        ddl.surrogate_id(),
        sa.Column("provider_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("keyword", sa.String(length=24), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("handled_as", sa.String(length=32), nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        unique=("provider_id",),
        indexes=(ddl.index("patient_id"),),
    )


def downgrade() -> None:
    ddl.drop_tables(
        "outreach_inbound",
        "outreach_sender_slots",
        "outreach_attempts",
        "outreach_outbox",
        "outreach_enrollments",
    )
