"""loyalty: the rewards ledger (issue 25)"""

from careloop.migrations import ddl

revision = "0210"
down_revision = "0200"


def upgrade() -> None:
    ddl.create_table(
        "reward_entries",
        ddl.surrogate_id(),
        *ddl.columns(
            "patient_id str64, reward str64, program str100?, year int, value_cents int",
            "source_key str128, state str16, earned_at utc, earned_by str128, fulfilled_at utc?",
            "fulfilled_by str128?, fulfilment str16?, fulfilment_ref str128?",
            "cancelled_reason str200?",
        ),
        refs=(ddl.PATIENT,),
        unique=(ddl.index("patient_id", "reward", "source_key"),),
        indexes=(ddl.index("patient_id", "year", name="ix_reward_entries_patient_year"),),
    )


def downgrade() -> None:
    ddl.drop_tables("reward_entries")
