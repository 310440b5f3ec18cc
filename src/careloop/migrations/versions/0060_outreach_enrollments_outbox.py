"""outreach: enrollments, outbox, send attempts, sender slots, inbound replies"""

from careloop.migrations import ddl

revision = "0060"
down_revision = "0040"


def upgrade() -> None:
    ddl.create_table(
        "outreach_enrollments",
        ddl.surrogate_id(),
        *ddl.columns(
            "patient_id str64, program str128, episode str200, arm str16, state str16",
            "anchors json, fields json, next_step int, step_due_at utc?, last_step_at utc?",
            "unanswered int, escalated_at utc?, last_reply_at utc?, enrolled_at utc",
            "state_changed_at utc, follow_until utc?, ended_reason str64?",
        ),
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
        *ddl.columns(
            "idempotency_key str200, enrollment_id id?, patient_id str64, program str128?",
            "step str64?, purpose str32, recipient_kind str16, caregiver_id str128?, channel str16",
            "sender str200?, to_address str320, subject text?, body text, html text?",
            "language str35, extra json, content_message str128?, content_version_id int?",
            "decision_id str36?, propensity float?, state str24, due_at utc, next_attempt_at utc",
            "attempts int, max_attempts int, claimed_by str128?, lease_until utc?",
            "provider_id str200?, last_error str64?, dead_reason str64?, created_at utc",
            "sent_at utc?, delivered_at utc?, updated_at utc",
        ),
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
        *ddl.columns(
            "message_id id, number int, worker str128, started_at utc, slot_at utc?",
            "finished_at utc?, outcome str24?, error str64?",
        ),
        refs=(ddl.Ref("message_id", "outreach_outbox.id"),),
        indexes=(ddl.index("message_id"),),
    )

    ddl.create_table(
        "outreach_sender_slots",
        *ddl.columns("sender_key str240, next_slot_at utc"),
        key=("sender_key",),
    )

    ddl.create_table(
        "outreach_inbound",
        ddl.surrogate_id(),
        *ddl.columns(
            "provider_id str200, channel str16, patient_id str64?, enrollment_id int?",
            "outbox_id int?, keyword str24, body text, handled_as str32, received_at utc",
        ),
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
