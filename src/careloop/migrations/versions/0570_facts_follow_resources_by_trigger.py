"""resource_facts: its resource's deletion followed by a trigger instead of a foreign key

Revision ID: 0570
Revises: 0560
Create Date: 2026-12-06 17:50:00

The foreign key from ``resource_facts`` to ``fhir_resources`` did two things. On insert it
checked, row by row, that the fact's resource exists, locking that resource's row (a lock
written into a page just written, and logged): ~0.1 s of the server's ~1.1 s CPU for 100
Synthea patients' import (issue 18 item 5). Its writers already guarantee it: the COPY path
projects facts from the rows it has just copied (a join), the upsert path writes the facts of
the resources it has just upserted, in the same transaction. On delete it cascaded (erasure,
retention, a patient's deletion cascading to their resources): that is kept by a trigger on
``fhir_resources``, once per statement on PostgreSQL (the deleted keys as a transition table)
and per row on SQLite; a ``TRUNCATE fhir_resources`` empties ``resource_facts`` too, as
``TRUNCATE ... CASCADE`` did (by ``DELETE``: a trigger cannot truncate a table that the same
``TRUNCATE`` statement names).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0570"
down_revision: str | None = "0560"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FOREIGN_KEY = "fk_resource_facts_resource_type_fhir_resources"


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if _postgresql():
        op.drop_constraint(FOREIGN_KEY, "resource_facts", type_="foreignkey")
        op.execute(
            "CREATE FUNCTION careloop_forget_facts() RETURNS trigger AS $$ BEGIN "
            "DELETE FROM resource_facts AS f USING gone AS g "
            "WHERE f.resource_type = g.resource_type AND f.fhir_id = g.fhir_id; "
            "RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER fhir_resources_forget_facts AFTER DELETE ON fhir_resources "
            "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
            "EXECUTE FUNCTION careloop_forget_facts()"
        )
        op.execute(
            "CREATE FUNCTION careloop_truncate_facts() RETURNS trigger AS $$ BEGIN "
            "DELETE FROM resource_facts; RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER fhir_resources_truncate_facts AFTER TRUNCATE ON fhir_resources "
            "FOR EACH STATEMENT EXECUTE FUNCTION careloop_truncate_facts()"
        )
        return
    with op.batch_alter_table("resource_facts") as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
    op.execute(
        "CREATE TRIGGER fhir_resources_forget_facts AFTER DELETE ON fhir_resources BEGIN "
        "DELETE FROM resource_facts WHERE resource_type = OLD.resource_type "
        "AND fhir_id = OLD.fhir_id; END"
    )


def downgrade() -> None:
    if _postgresql():
        op.execute("DROP TRIGGER IF EXISTS fhir_resources_truncate_facts ON fhir_resources")
        op.execute("DROP TRIGGER IF EXISTS fhir_resources_forget_facts ON fhir_resources")
        # The functions outlive their triggers: left behind, the next upgrade's CREATE fails.
        op.execute("DROP FUNCTION IF EXISTS careloop_truncate_facts()")
        op.execute("DROP FUNCTION IF EXISTS careloop_forget_facts()")
    else:
        op.execute("DROP TRIGGER IF EXISTS fhir_resources_forget_facts")
    # A fact whose resource is gone cannot be written by the importers; none should exist.
    op.execute(
        "DELETE FROM resource_facts WHERE NOT EXISTS (SELECT 1 FROM fhir_resources AS r "
        "WHERE r.resource_type = resource_facts.resource_type "
        "AND r.fhir_id = resource_facts.fhir_id)"
    )
    keys = ["resource_type", "fhir_id"]
    if _postgresql():
        op.create_foreign_key(
            FOREIGN_KEY, "resource_facts", "fhir_resources", keys, keys, ondelete="CASCADE"
        )
        return
    with op.batch_alter_table("resource_facts") as batch:
        batch.create_foreign_key(FOREIGN_KEY, "fhir_resources", keys, keys, ondelete="CASCADE")
