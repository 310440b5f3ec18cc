"""resource_fact_bodies: a fact's JSON in its own table, the night's columns in narrow rows

Revision ID: 0640
Revises: 0630
Create Date: 2026-12-07 18:00:00

The night reads every ``resource_facts`` row of its patients (~250 a patient) for their codes,
status and timing, yet ships the JSON of ~10 of them. The JSON was ~900 of a row's ~1,100
bytes, so the read copied ~34 heap pages a patient from the OS cache into the server's
buffers: the largest single cost of the night on the server (docs/benchmarks.md, ntx). The
JSON now lives in ``resource_fact_bodies`` (same key), fetched by primary key for the rows a
night ships; ``resource_facts`` keeps the narrow columns (~40 rows a page).

On PostgreSQL the narrowed table is rewritten in patient order (``CLUSTER`` on the patient
index): dropping a column frees no space until a rewrite, and a patient's rows then lie on
as few pages as their width allows. Erasure and retention follow a resource's deletion into
both tables (the triggers of 0570, now deleting from both).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import careloop.models.types

revision: str = "0640"
down_revision: str | None = "0630"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The triggers' functions of 0570, over one table (``_functions(False)``) or both.
_FORGET = (
    "CREATE OR REPLACE FUNCTION careloop_forget_facts() RETURNS trigger AS $$ BEGIN "
    "DELETE FROM resource_facts AS f USING gone AS g "
    "WHERE f.resource_type = g.resource_type AND f.fhir_id = g.fhir_id; {bodies}"
    "RETURN NULL; END; $$ LANGUAGE plpgsql"
)
_FORGET_BODIES = (
    "DELETE FROM resource_fact_bodies AS b USING gone AS g "
    "WHERE b.resource_type = g.resource_type AND b.fhir_id = g.fhir_id; "
)
_TRUNCATE = (
    "CREATE OR REPLACE FUNCTION careloop_truncate_facts() RETURNS trigger AS $$ BEGIN "
    "DELETE FROM resource_facts; {bodies}RETURN NULL; END; $$ LANGUAGE plpgsql"
)
_SQLITE_FORGET_FACTS = (
    "CREATE TRIGGER fhir_resources_forget_facts AFTER DELETE ON fhir_resources BEGIN "
    "DELETE FROM resource_facts WHERE resource_type = OLD.resource_type "
    "AND fhir_id = OLD.fhir_id; END"
)
_SQLITE_FORGET_BODIES = (
    "CREATE TRIGGER fhir_resources_forget_fact_bodies AFTER DELETE ON fhir_resources BEGIN "
    "DELETE FROM resource_fact_bodies WHERE resource_type = OLD.resource_type "
    "AND fhir_id = OLD.fhir_id; END"
)


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _functions(*, bodies: bool) -> None:
    op.execute(_FORGET.format(bodies=_FORGET_BODIES if bodies else ""))
    op.execute(_TRUNCATE.format(bodies="DELETE FROM resource_fact_bodies; " if bodies else ""))


def upgrade() -> None:
    op.create_table(
        "resource_fact_bodies",
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("fhir_id", sa.String(length=128), nullable=False),
        sa.Column("fact", careloop.models.types.JSONType, nullable=False),
        sa.PrimaryKeyConstraint("resource_type", "fhir_id", name=op.f("pk_resource_fact_bodies")),
    )
    op.execute(
        "INSERT INTO resource_fact_bodies (resource_type, fhir_id, fact) "
        "SELECT resource_type, fhir_id, fact FROM resource_facts"
    )
    if _postgresql():
        op.drop_column("resource_facts", "fact")
        op.execute("CLUSTER resource_facts USING ix_resource_facts_patient_type")
        _functions(bodies=True)
        return
    # SQLite's batch mode renames a copy of the table, which a trigger naming it refuses.
    op.execute("DROP TRIGGER IF EXISTS fhir_resources_forget_facts")
    with op.batch_alter_table("resource_facts") as batch:
        batch.drop_column("fact")
    op.execute(_SQLITE_FORGET_FACTS)
    op.execute(_SQLITE_FORGET_BODIES)


def downgrade() -> None:
    if _postgresql():
        _functions(bodies=False)
        op.add_column("resource_facts", sa.Column("fact", careloop.models.types.JSONType))
        op.execute(
            "UPDATE resource_facts AS f SET fact = b.fact FROM resource_fact_bodies AS b "
            "WHERE b.resource_type = f.resource_type AND b.fhir_id = f.fhir_id"
        )
        op.alter_column("resource_facts", "fact", nullable=False)
        op.execute("ALTER TABLE resource_facts SET WITHOUT CLUSTER")
    else:
        op.execute("DROP TRIGGER IF EXISTS fhir_resources_forget_fact_bodies")
        op.execute("DROP TRIGGER IF EXISTS fhir_resources_forget_facts")
        with op.batch_alter_table("resource_facts") as batch:
            batch.add_column(sa.Column("fact", careloop.models.types.JSONType))
        op.execute(
            "UPDATE resource_facts SET fact = (SELECT b.fact FROM resource_fact_bodies AS b "
            "WHERE b.resource_type = resource_facts.resource_type "
            "AND b.fhir_id = resource_facts.fhir_id)"
        )
        with op.batch_alter_table("resource_facts") as batch:
            batch.alter_column("fact", existing_type=careloop.models.types.JSONType, nullable=False)
        op.execute(_SQLITE_FORGET_FACTS)
    op.drop_table("resource_fact_bodies")
