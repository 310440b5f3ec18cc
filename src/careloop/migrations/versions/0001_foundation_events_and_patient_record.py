"""foundation: events and patient record"""

from alembic import op

from careloop.migrations import ddl

revision = "0001"
down_revision = None


def upgrade() -> None:
    ddl.create_table(
        "events",
        ddl.surrogate_id(),
        *ddl.columns(
            "kind str64, patient_id str64?, occurred_at utc, recorded_at utc, actor str128",
            "subject_type str64?, subject_id str128?, program str128?, payload json",
        ),
        indexes=(
            *ddl.indexed("kind", "occurred_at", "patient_id"),
            ddl.index("patient_id", "kind", name="ix_events_patient_kind"),
            ddl.index("program"),
        ),
    )
    ddl.create_table(
        "patients",
        *ddl.columns(
            "id str64, given_name str200?, family_name str200?, birth_date date?, gender str16?",
            "language str35?, timezone str64, timezone_source str16, deceased bool",
            "deceased_at utc?, race str100?, ethnicity str100?, contact_points json, address json?",
            "created_at utc, updated_at utc",
        ),
        indexes=ddl.indexed("birth_date", "deceased", "gender", "language"),
    )
    ddl.create_table(
        "resource_codes",
        *ddl.columns(
            "resource_type str64, fhir_id str128, system str255, code str128, patient_id str64?"
        ),
        key=("resource_type", "fhir_id", "system", "code"),
        indexes=(ddl.index("code", "system", name="ix_resource_codes_code"),),
    )
    ddl.create_table(
        "caregivers",
        *ddl.columns(
            "id str128, patient_id str64, name str300?, relationship str100?, contact_points json",
            "availability json, is_proxy bool, updated_at utc",
        ),
        refs=(ddl.PATIENT,),
        indexes=(ddl.index("patient_id"),),
    )
    ddl.create_table(
        "fhir_resources",
        *ddl.columns(
            "resource_type str64, fhir_id str128, patient_id str64?, patient_ref str200?",
            "status str64?, effective_start utc?, effective_end utc?, codes text, supported bool",
            "resource json, source str500?, imported_at utc",
        ),
        key=("resource_type", "fhir_id"),
        refs=(ddl.PATIENT,),
        indexes=(
            *ddl.indexed("patient_id", "patient_ref"),
            ddl.index("patient_id", "resource_type", name="ix_fhir_resources_patient_type"),
            ddl.index("resource_type", "effective_start", name="ix_fhir_resources_type_start"),
        ),
    )
    ddl.create_table(
        "patient_identifiers",
        *ddl.columns("system str255, value str255, patient_id str64"),
        key=("system", "value"),
        refs=(ddl.PATIENT,),
        indexes=(ddl.index("patient_id"),),
    )

    # The event log is append-only: the database itself refuses UPDATE.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION careloop_refuse_update() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME; END; "
            "$$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE ON events "
            "FOR EACH ROW EXECUTE FUNCTION careloop_refuse_update()"
        )
    else:
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE ON events "
            "BEGIN SELECT RAISE(ABORT, 'table events is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        # The function outlives its trigger: left behind, the next upgrade's CREATE fails.
        op.execute("DROP FUNCTION IF EXISTS careloop_refuse_update()")
    else:
        op.execute("DROP TRIGGER IF EXISTS events_append_only")
    ddl.drop_tables(
        "patient_identifiers",
        "fhir_resources",
        "caregivers",
        "resource_codes",
        "patients",
        "events",
    )
