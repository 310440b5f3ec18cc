"""outreach: enrollments, outbox, send attempts, sender slots, inbound replies"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, JSON, utc

revision = "0060"
down_revision = "0040"


def upgrade() -> None:
    op.create_table(
        "outreach_enrollments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_outreach_enrollments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_enrollments")),
    )
    op.create_index(
        "uq_outreach_enrollments_program_patient_episode",
        "outreach_enrollments",
        ["program", "patient_id", "episode"],
        unique=True,
    )
    op.create_index("ix_outreach_enrollments_due", "outreach_enrollments", ["state", "step_due_at"])
    op.create_index(
        "ix_outreach_enrollments_patient", "outreach_enrollments", ["patient_id", "state"]
    )

    op.create_table(
        "outreach_outbox",
        sa.Column("id", ID, autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["outreach_enrollments.id"],
            name=op.f("fk_outreach_outbox_enrollment_id_outreach_enrollments"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_outbox")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_outreach_outbox_idempotency_key")),
    )
    op.create_index(op.f("ix_outreach_outbox_enrollment_id"), "outreach_outbox", ["enrollment_id"])
    op.create_index(op.f("ix_outreach_outbox_patient_id"), "outreach_outbox", ["patient_id"])
    op.create_index(op.f("ix_outreach_outbox_provider_id"), "outreach_outbox", ["provider_id"])
    op.create_index("ix_outreach_outbox_claim", "outreach_outbox", ["state", "next_attempt_at"])

    op.create_table(
        "outreach_attempts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("message_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("slot_at", utc(), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["outreach_outbox.id"],
            name=op.f("fk_outreach_attempts_message_id_outreach_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_attempts")),
    )
    op.create_index(op.f("ix_outreach_attempts_message_id"), "outreach_attempts", ["message_id"])

    op.create_table(
        "outreach_sender_slots",
        sa.Column("sender_key", sa.String(length=240), nullable=False),
        sa.Column("next_slot_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("sender_key", name=op.f("pk_outreach_sender_slots")),
    )

    op.create_table(
        "outreach_inbound",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("provider_id", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("enrollment_id", sa.Integer(), nullable=True),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("keyword", sa.String(length=24), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("handled_as", sa.String(length=32), nullable=False),
        sa.Column("received_at", utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outreach_inbound")),
        sa.UniqueConstraint("provider_id", name=op.f("uq_outreach_inbound_provider_id")),
    )
    op.create_index(op.f("ix_outreach_inbound_patient_id"), "outreach_inbound", ["patient_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_outreach_inbound_patient_id"), table_name="outreach_inbound")
    op.drop_table("outreach_inbound")
    op.drop_table("outreach_sender_slots")
    op.drop_index(op.f("ix_outreach_attempts_message_id"), table_name="outreach_attempts")
    op.drop_table("outreach_attempts")
    op.drop_index("ix_outreach_outbox_claim", table_name="outreach_outbox")
    op.drop_index(op.f("ix_outreach_outbox_provider_id"), table_name="outreach_outbox")
    op.drop_index(op.f("ix_outreach_outbox_patient_id"), table_name="outreach_outbox")
    op.drop_index(op.f("ix_outreach_outbox_enrollment_id"), table_name="outreach_outbox")
    op.drop_table("outreach_outbox")
    op.drop_index("ix_outreach_enrollments_patient", table_name="outreach_enrollments")
    op.drop_index("ix_outreach_enrollments_due", table_name="outreach_enrollments")
    op.drop_index(
        "uq_outreach_enrollments_program_patient_episode", table_name="outreach_enrollments"
    )
    op.drop_table("outreach_enrollments")
