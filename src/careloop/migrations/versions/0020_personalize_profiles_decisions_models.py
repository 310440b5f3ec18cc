"""personalize: preference profiles, decisions, learned model state"""

from careloop.migrations import ddl

revision = "0020"
down_revision = "0010"


def upgrade() -> None:
    ddl.create_table(
        "preference_profiles",
        *ddl.columns(
            "patient_id str64, stated json, learned json, updated_at utc, updated_by str128"
        ),
        key=("patient_id",),
    )
    ddl.create_table(
        "personalize_decisions",
        *ddl.columns(
            "id str36, patient_id str64, program str128, decided_at utc, send_at utc?",
            "channel str16?, send_window str16?, reading_level str16?, tone str16?, language str35",
            "propensity float?, factor_propensities json, options json, removals json",
            "features json, explanation text, explored bool, model_version str64, reward float?",
            "learned_at utc?",
        ),
        indexes=(
            *ddl.indexed("decided_at", "patient_id", "program"),
            ddl.index("program", "learned_at", name="ix_personalize_decisions_program_learned"),
        ),
    )
    ddl.create_table(
        "personalize_model_states",
        *ddl.columns("program str128, state json, version str64, updated_at utc"),
        key=("program",),
    )


def downgrade() -> None:
    ddl.drop_tables("personalize_model_states", "personalize_decisions", "preference_profiles")
