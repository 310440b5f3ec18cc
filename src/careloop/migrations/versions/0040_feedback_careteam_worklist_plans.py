"""feedback and careteam: check-in conversations, worklist items, plan adjustments"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations.columns import ID, JSON, utc

revision = "0040"
down_revision = "0020"


def upgrade() -> None:
    op.create_table(
        "checkin_conversations",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("questionnaire_id", sa.String(length=128), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("state", JSON, nullable=False),
        sa.Column("started_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        sa.Column("response_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_checkin_conversations_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkin_conversations")),
    )
    op.create_index(
        "ix_checkin_conversations_patient_status",
        "checkin_conversations",
        ["patient_id", "status"],
    )

    op.create_table(
        "worklist_items",
        sa.Column("id", ID, autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_worklist_items_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_worklist_items")),
        sa.UniqueConstraint("open_key", name=op.f("uq_worklist_items_open_key")),
    )
    op.create_index(op.f("ix_worklist_items_status"), "worklist_items", ["status"])
    op.create_index("ix_worklist_items_queue", "worklist_items", ["status", "priority", "due_at"])
    op.create_index("ix_worklist_items_patient_rule", "worklist_items", ["patient_id", "rule_id"])
    op.create_index("ix_worklist_items_raised_at", "worklist_items", ["raised_at"])

    op.create_table(
        "plan_adjustments",
        sa.Column("id", ID, autoincrement=True, nullable=False),
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
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            name=op.f("fk_plan_adjustments_patient_id_patients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["worklist_items.id"],
            name=op.f("fk_plan_adjustments_item_id_worklist_items"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plan_adjustments")),
    )
    op.create_index(op.f("ix_plan_adjustments_patient_id"), "plan_adjustments", ["patient_id"])
    op.create_index(op.f("ix_plan_adjustments_status"), "plan_adjustments", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_plan_adjustments_status"), table_name="plan_adjustments")
    op.drop_index(op.f("ix_plan_adjustments_patient_id"), table_name="plan_adjustments")
    op.drop_table("plan_adjustments")
    op.drop_index("ix_worklist_items_raised_at", table_name="worklist_items")
    op.drop_index("ix_worklist_items_patient_rule", table_name="worklist_items")
    op.drop_index("ix_worklist_items_queue", table_name="worklist_items")
    op.drop_index(op.f("ix_worklist_items_status"), table_name="worklist_items")
    op.drop_table("worklist_items")
    op.drop_index("ix_checkin_conversations_patient_status", table_name="checkin_conversations")
    op.drop_table("checkin_conversations")
