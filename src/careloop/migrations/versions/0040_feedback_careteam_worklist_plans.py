"""feedback and careteam: check-in conversations, worklist items, plan adjustments"""

from careloop.migrations import ddl

revision = "0040"
down_revision = "0020"


def upgrade() -> None:
    ddl.create_table(
        "checkin_conversations",
        ddl.surrogate_id(),
        *ddl.columns(
            "patient_id str64, questionnaire_id str128, channel str16, status str16, state json",
            "started_at utc, updated_at utc, response_id str128?",
        ),
        refs=(ddl.PATIENT,),
        indexes=(
            ddl.index("patient_id", "status", name="ix_checkin_conversations_patient_status"),
        ),
    )

    ddl.create_table(
        "worklist_items",
        ddl.surrogate_id(),
        *ddl.columns(
            "kind str16, patient_id str64, rule_id str100, open_key str200?, title str300",
            "severity str16, priority int, status str16, program str128?, team str128?",
            "assignee str128?, occurrences int, suppressed int, escalation_level int",
            "findings json, evidence json, raised_at utc, last_seen_at utc, due_at utc",
            "acknowledged_at utc?, acknowledged_by str128?, resolved_at utc?, resolved_by str128?",
            "outcome text?",
        ),
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
        *ddl.columns(
            "patient_id str64, item_id id?, rule_id str100, kind str40, status str16, reason text",
            "details json, task json, proposed_at utc, decided_at utc?, decided_by str128?",
            "decision_note text?",
        ),
        refs=(
            ddl.PATIENT,
            ddl.Ref("item_id", "worklist_items.id", ondelete="SET NULL"),
        ),
        indexes=ddl.indexed("patient_id", "status"),
    )


def downgrade() -> None:
    ddl.drop_tables("plan_adjustments", "worklist_items", "checkin_conversations")
