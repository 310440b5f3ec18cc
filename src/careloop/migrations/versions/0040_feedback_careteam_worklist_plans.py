"""feedback and careteam: check-in conversations, worklist items, plan adjustments"""

import sqlalchemy as sa

from careloop.migrations import ddl
from careloop.migrations.columns import ID, JSON, utc

revision = "0040"
down_revision = "0020"


def upgrade() -> None:
    ddl.create_table(
        "checkin_conversations",
        ddl.surrogate_id(),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("questionnaire_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=True),
        refs=(ddl.PATIENT,),
        indexes=(
            ddl.index("patient_id", "status", name="ix_checkin_conversations_patient_status"),
        ),
    )

    ddl.create_table(
        "worklist_items",
        ddl.surrogate_id(),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("open_key", sa.String(length=200), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("program", sa.String(length=128), nullable=True),
        sa.Column("team", sa.String(length=128), nullable=True),
        sa.Column("assignee", sa.String(length=128), nullable=True),
        sa.Column("occurrences", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.Integer(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("findings", JSON, nullable=False),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("raised_at", utc(), nullable=False),
        sa.Column("last_seen_at", utc(), nullable=False),
        sa.Column("due_at", utc(), nullable=False),
        sa.Column("acknowledged_at", utc(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=128), nullable=True),
        sa.Column("resolved_at", utc(), nullable=True),
        sa.Column("resolved_by", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        refs=(ddl.PATIENT,),
        unique=("open_key",),
        indexes=(
            ddl.index("status"),
            ddl.index("status", "priority", "due_at", name="ix_worklist_items_queue"),
            ddl.index("patient_id", "rule_id", name="ix_worklist_items_patient_rule"),
            ddl.index("raised_at"),
        ),
    )

    ddl.create_table(
        "plan_adjustments",
        ddl.surrogate_id(),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("item_id", ID, nullable=True),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("details", JSON, nullable=False),
        sa.Column("task", JSON, nullable=False),
        sa.Column("proposed_at", utc(), nullable=False),
        sa.Column("decided_at", utc(), nullable=True),
        sa.Column("decided_by", sa.String(length=128), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        refs=(
            ddl.PATIENT,
            ddl.Ref("item_id", "worklist_items.id", ondelete="SET NULL"),
        ),
        indexes=ddl.indexed("patient_id", "status"),
    )


def downgrade() -> None:
    ddl.drop_tables("plan_adjustments", "worklist_items", "checkin_conversations")
