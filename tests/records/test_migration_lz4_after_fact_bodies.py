"""0660 (lz4 for stored JSON) after 0640 (the facts' JSON moved to ``resource_fact_bodies``):
the chain migrates on PostgreSQL, and the facts' JSON is lz4 like the resources' JSON. Before
the fix 0660 altered ``resource_facts.fact``, a column 0640 had dropped: ``careloop db
upgrade`` failed (review of the merge)."""

from __future__ import annotations

from sqlalchemy import text

from careloop.db import make_engine, migrate


def test_the_chain_migrates_and_every_stored_json_is_lz4(empty_postgresql_url: str) -> None:
    engine = make_engine(empty_postgresql_url)
    try:
        migrate(engine)
        with engine.begin() as connection:
            rows = list(
                connection.execute(
                    text(
                        "SELECT c.relname || '.' || a.attname, a.attcompression FROM pg_attribute a"
                        " JOIN pg_class c ON c.oid = a.attrelid WHERE (c.relname, a.attname) IN"
                        " (('fhir_resources', 'resource'), ('resource_fact_bodies', 'fact'))"
                    )
                ).tuples()
            )
    finally:
        engine.dispose()
    assert dict(rows) == {"fhir_resources.resource": "l", "resource_fact_bodies.fact": "l"}
