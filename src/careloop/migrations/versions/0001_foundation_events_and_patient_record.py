"""foundation: events and patient record"""

import sqlalchemy as sa
from alembic import op

from careloop.migrations import ddl
from careloop.migrations.columns import JSON, utc

revision = "0001"
down_revision = None


def upgrade() -> None:
    ddl.create_table(
        "events",
        ddl.surrogate_id(),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("occurred_at", utc(), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("subject_type", sa.String(length=64), nullable=True),
        sa.Column("subject_id", sa.String(length=128), nullable=True),
        sa.Column("program", sa.String(length=128), nullable=True),
        sa.Column("payload", JSON, nullable=False),
        indexes=(
            *ddl.indexed("kind", "occurred_at", "patient_id"),
            ddl.index("patient_id", "kind", name="ix_events_patient_kind"),
            ddl.index("program"),
        ),
    )
    ddl.create_table(
        "patients",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=35), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("timezone_source", sa.String(length=16), nullable=False),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("deceased_at", utc(), nullable=True),
        sa.Column("race", sa.String(length=100), nullable=True),
        sa.Column("ethnicity", sa.String(length=100), nullable=True),
        sa.Column("contact_points", JSON, nullable=False),
        sa.Column("address", JSON, nullable=True),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        indexes=ddl.indexed("birth_date", "deceased", "gender", "language"),
    )
    ddl.create_table(
        "resource_codes",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=128), nullable=False),
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("code", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        key=("resource_type", "fhir_id", "system", "code"),
        indexes=(ddl.index("code", "system", name="ix_resource_codes_code"),),
    )
    ddl.create_table(
        "caregivers",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=True),
        sa.Column("relationship", sa.String(length=100), nullable=True),
        sa.Column("contact_points", JSON, nullable=False),
        sa.Column("availability", JSON, nullable=False),
        sa.Column("is_proxy", sa.Boolean(), nullable=False),
        sa.Column("updated_at", utc(), nullable=False),
        refs=(ddl.PATIENT,),
        indexes=(ddl.index("patient_id"),),
    )
    ddl.create_table(
        "fhir_resources",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=128), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=True),
        sa.Column("patient_ref", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=64), nullable=True),
        sa.Column("effective_start", utc(), nullable=True),
        sa.Column("effective_end", utc(), nullable=True),
        sa.Column("codes", sa.Text(), nullable=False),
        sa.Column("supported", sa.Boolean(), nullable=False),
        sa.Column("resource", JSON, nullable=False),
        sa.Column("source", sa.String(length=500), nullable=True),
        sa.Column("imported_at", utc(), nullable=False),
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
        sa.Column("system", sa.String(length=255), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("patient_id", sa.String(length=64), nullable=False),
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
