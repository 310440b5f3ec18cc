"""procrastinate queue: the distributed task queue's tables and functions (PostgreSQL only)

The schema is Procrastinate 3.10.0's own, frozen in ``migrations/vendor`` (a migration must not
change when a library does). SQLite, the single-process default, has no queue: its worker
runs the same tasks in process.
"""

from pathlib import Path

from alembic import op

revision = "0400"
down_revision = "0350"

SCHEMA = Path(__file__).resolve().parent.parent / "vendor" / "procrastinate_3_10_0.sql"

DROP = """
DROP TABLE IF EXISTS procrastinate_events, procrastinate_periodic_defers,
    procrastinate_jobs, procrastinate_workers CASCADE;
DO $$
DECLARE f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = current_schema() AND p.proname LIKE 'procrastinate\\_%'
    LOOP
        EXECUTE 'DROP FUNCTION ' || f || ' CASCADE';
    END LOOP;
END $$;
DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_event_type,
    procrastinate_job_status CASCADE;
"""


def _run(sql: str) -> None:
    """Many statements and ``$$`` bodies: sent as one simple query, no parameters parsed."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    bind.connection.driver_connection.execute(sql)  # type: ignore[union-attr]


def upgrade() -> None:
    _run(SCHEMA.read_text(encoding="utf-8"))


def downgrade() -> None:
    _run(DROP)
