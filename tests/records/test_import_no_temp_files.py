"""A batch's facts are written without the server materialising the batch's resources: the
import writes no temporary file, even with 1 MB of working memory for a batch of 1.5 MB of
JSON (before, each batch's projection held its resources' JSON between two inserts and
spilled it: 6 temporary files, 29 MB, for the 100 Synthea patients at the default 4 MB)."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import func, select

from careloop.clock import FrozenClock
from careloop.db import make_engine, make_sessionmaker, migrate
from careloop.models import FhirResource, ResourceFact, ResourceFactBody
from careloop.records.importer import import_paths
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import START
from tests.records.conftest import synthea_dir


def _temp_files(url: str) -> int:
    """The database's temporary files, once none of the import's server processes is left
    (a process reports its counts when it ends)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(100):
            others = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
            if others == (0,):
                break
            time.sleep(0.1)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT temp_files FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_import_writes_no_temporary_file_on_the_server(empty_postgresql_url: str) -> None:
    url = empty_postgresql_url.replace("postgresql://", "postgresql+psycopg://")
    engine = make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar_one()
        conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET work_mem = '1MB'")
    engine.dispose()
    before = _temp_files(empty_postgresql_url)
    # The two largest patients: one batch of ~1.5 MB of JSON.
    files = sorted(synthea_dir().glob("*.json"), key=lambda path: path.stat().st_size)[-2:]
    summary = import_paths(
        make_sessionmaker(engine),
        engine=engine,
        paths=files,
        clock=FrozenClock(START),
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )
    with make_sessionmaker(engine)() as session:
        stored = session.scalar(select(func.count()).select_from(FhirResource))
        facts = session.scalar(select(func.count()).select_from(ResourceFact))
        bodies = session.scalar(select(func.count()).select_from(ResourceFactBody))
    engine.dispose()
    assert summary.rejected == []
    assert stored == sum(summary.resources.values())
    assert facts == bodies
    assert facts > 0
    assert _temp_files(empty_postgresql_url) == before
