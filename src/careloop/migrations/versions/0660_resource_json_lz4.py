"""compress the stored FHIR JSON and its facts with lz4 instead of pglz

Revision ID: 0660
Revises: 0650
Create Date: 2026-12-07 18:00:00

A resource whose row passes ~2 kB (a Patient, a long DiagnosticReport or CarePlan) is
compressed as it is written: pglz cost the import ~1.5 % of its server CPU for the 2 % of rows
it compressed (docs/benchmarks.md, imp2); lz4 compresses several times faster and decompresses
faster for every later read. Values already stored keep their compression (PostgreSQL reads
both); only new and updated values use lz4. PostgreSQL 14 or later, built with lz4; elsewhere
(and on SQLite) nothing changes.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0660"
down_revision: str | None = "0650"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The facts' JSON is ``resource_facts.fact`` before 0640 and ``resource_fact_bodies.fact``
# after it: only the columns that exist are altered, so the chain migrates in either order.
_COLUMNS = (
    ("fhir_resources", "resource"),
    ("resource_facts", "fact"),
    ("resource_fact_bodies", "fact"),
)
_EXISTING = (
    "SELECT c.relname, a.attname FROM pg_attribute AS a JOIN pg_class AS c "
    "ON c.oid = a.attrelid WHERE c.relnamespace = current_schema()::regnamespace "
    "AND NOT a.attisdropped AND (c.relname, a.attname) IN ({pairs})"
)


def _set_compression(method: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or (bind.dialect.server_version_info or (0,)) < (14,):
        return
    pairs = ", ".join(f"('{table}', '{column}')" for table, column in _COLUMNS)
    existing = set(bind.exec_driver_sql(_EXISTING.format(pairs=pairs)).tuples())
    statements = " ".join(
        f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION {method};"
        for table, column in _COLUMNS
        if (table, column) in existing
    )
    # A server built without lz4 refuses the method: the columns keep pglz.
    op.execute(f"DO $$ BEGIN {statements} EXCEPTION WHEN feature_not_supported THEN NULL; END $$")


def upgrade() -> None:
    _set_compression("lz4")


def downgrade() -> None:
    _set_compression("default")
