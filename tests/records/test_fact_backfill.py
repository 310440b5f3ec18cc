"""The typed fact columns of a database upgraded from 0540, filled in the background.

Migration 0550 adds the columns empty (instantly, whatever the table's size);
``records.fact_backfill`` fills them in committed slices, from the CLI
(``careloop records backfill-facts``) or the worker's ``fact-backfill`` job. What it writes
must equal what import writes, it must resume where it stopped, leave alone what an import
wrote meanwhile, and the night's verdicts must not change before, during or after it.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner, configured_jobs
from careloop.db import downgrade, make_engine, make_sessionmaker, migrate
from careloop.programs.definition import load_programs
from careloop.programs.eligibility import evaluate_record
from careloop.programs.windows import resolve_window
from careloop.records.fact_backfill import fill_facts
from careloop.records.projection import SharedFacts, share_facts
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from careloop.settings import Settings
from tests.conftest import SHARED_DATA, START
from tests.programs.test_projection_differential import _import
from tests.programs.test_shared_record import shared_records
from tests.records.test_fact_columns import _columns

SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
NOW = datetime(2020, 11, 1, tzinfo=UTC)
runner = CliRunner()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'backfill.db'}"
    return str(request.getfixturevalue("empty_postgresql_url"))


def _runtime(url: str) -> Runtime:
    engine = make_engine(url)
    return Runtime(
        settings=Settings(database_url=url),
        clock=FrozenClock(START),
        engine=engine,
        sessions=make_sessionmaker(engine),
    )


def _computed(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT count(*) FROM resource_facts WHERE columns_version IS NOT NULL")
            ).scalar_one()
        )


def _as_upgraded_from_0540(engine: Engine) -> None:
    """Facts stored before the columns existed: the columns dropped and added again."""
    downgrade(engine, "0540")
    migrate(engine)


@contextmanager
def _upgraded(url: str, folder: Path) -> Iterator[tuple[Runtime, dict[Any, Any]]]:
    """A database of ``folder``'s patients upgraded from 0540 (no typed column computed),
    and the columns import had written."""
    rt = _runtime(url)
    try:
        migrate(rt.engine)
        _import(rt, folder)
        imported = _columns(rt.engine)
        _as_upgraded_from_0540(rt.engine)
        yield rt, imported
    finally:
        rt.close()


def _night_verdicts(rt: Runtime) -> dict[tuple[str, str], Any]:
    """Every shipped program's verdict per patient, read as a night reads (one shared read)."""
    programs = [p for p in load_programs().values() if p.load_codes and p.package is None]
    codes = frozenset().union(*(p.load_codes or () for p in programs))
    always = frozenset().union(*(p.always_types for p in programs))
    verdicts = {}
    with rt.transaction() as session:
        share_facts(session, SharedFacts(codes=codes, always=always))
        ids = patient_ids(session)
        for program in programs:
            window = resolve_window(program.definition.period, now=NOW)
            for pid, _, record in shared_records(session, program, ids):
                verdicts[(program.name, pid)] = evaluate_record(program, record, window)
    return verdicts


def test_the_night_is_the_same_before_during_and_after_the_backfill(url: str) -> None:
    rt = _runtime(url)
    try:
        migrate(rt.engine)
        _import(rt, SYNTHEA)
        imported = _columns(rt.engine)
        expected = _night_verdicts(rt)

        _as_upgraded_from_0540(rt.engine)
        assert _computed(rt.engine) == 0
        assert _night_verdicts(rt) == expected

        half = fill_facts(rt.transaction, now=rt.clock.now(), batch=len(imported) // 4, slices=2)
        assert (half.slices, half.finished) == (2, False)
        assert 0 < _computed(rt.engine) < len(imported)
        assert _night_verdicts(rt) == expected

        rest = fill_facts(rt.transaction, now=rt.clock.now(), batch=5000)
        assert rest.finished
        assert half.filled + rest.filled == rest.filled_in_all == len(imported)
        assert _columns(rt.engine) == imported
        assert _night_verdicts(rt) == expected
    finally:
        rt.close()
    assert len(expected) > 500
    assert any(verdict for verdict in expected.values())


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("backfill")
    for path in sorted(SYNTHEA.glob("*.json"))[:2]:
        shutil.copy(path, folder / path.name)
    return folder


def test_it_resumes_where_it_stopped_and_keeps_what_an_import_wrote_meanwhile(
    url: str, files: Path
) -> None:
    with _upgraded(url, files) as (rt, imported):
        first = fill_facts(rt.transaction, now=rt.clock.now(), batch=100, slices=1)
        assert (first.filled, first.slices, first.finished) == (100, 1, False)
        _import(rt, files)  # writes every fact again, with its columns and version
        after_import = _computed(rt.engine)
        rest = fill_facts(rt.transaction, now=rt.clock.now(), batch=100)
        again = fill_facts(rt.transaction, now=rt.clock.now(), batch=100)
    assert after_import == len(imported)
    assert (rest.filled, rest.finished) == (0, True)  # the import had written them all
    assert (again.filled, again.slices, again.finished) == (0, 0, True)
    assert again.filled_in_all == 100


def test_the_cli_fills_in_and_says_how_many(url: str, files: Path) -> None:
    with _upgraded(url, files) as (_, imported):
        pass
    command = ["records", "backfill-facts", "--batch", "150", "--json", "--database", url]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    counts = orjson.loads(result.output)
    assert counts["filled"] == counts["filled_in_all"] == len(imported)
    assert counts["finished"] is True
    assert counts["slices"] == -(-len(imported) // 150)
    engine = make_engine(url)
    try:
        assert _columns(engine) == imported
    finally:
        engine.dispose()
    refused = runner.invoke(app, ["records", "backfill-facts", "--batch", "0", "--database", url])
    assert refused.exit_code == 2
    assert "--batch" in refused.output


def test_the_periodic_job_fills_in_without_anyone_asking(url: str, files: Path) -> None:
    with _upgraded(url, files) as (rt, imported):
        job = [j for j in configured_jobs(rt) if j.name == "fact-backfill"]
        outcomes = JobRunner(rt, job, owner="w1").run_due()
        filled = _columns(rt.engine)
    assert [(o.name, o.status, o.result["finished"]) for o in outcomes] == [
        ("fact-backfill", "ok", True)
    ]
    assert filled == imported


def test_a_fact_an_import_holds_is_passed_over_not_waited_for(
    empty_postgresql_url: str, files: Path
) -> None:
    with _upgraded(empty_postgresql_url, files) as (rt, _):
        plain = empty_postgresql_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as importer:
            held = importer.execute(
                "SELECT resource_type, fhir_id FROM resource_facts ORDER BY 1, 2 LIMIT 1 FOR UPDATE"
            ).fetchone()
            result = fill_facts(rt.transaction, now=rt.clock.now(), batch=10_000)
            importer.execute(
                "UPDATE resource_facts SET columns_version = 1 "
                "WHERE resource_type = %s AND fhir_id = %s",
                held,
            )
            importer.commit()
        total = _computed(rt.engine)
        after = fill_facts(rt.transaction, now=rt.clock.now(), batch=10_000)
    assert not result.finished  # the held fact was not computed yet
    assert result.filled == total - 1
    assert (after.filled, after.finished) == (0, True)  # the import wrote it


def test_a_fact_held_by_an_import_that_rolls_back_is_filled_in_later(
    empty_postgresql_url: str, files: Path
) -> None:
    """A held fact is passed over, not lost: the import holding it may roll back (a batch
    that fails is written again unit by unit, a unit may be rejected) and leave it NULL."""
    with _upgraded(empty_postgresql_url, files) as (rt, imported):
        plain = empty_postgresql_url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(plain) as importer:
            key = importer.execute(
                "SELECT resource_type, fhir_id FROM resource_facts "
                "ORDER BY resource_type, fhir_id OFFSET 150 LIMIT 1"
            ).fetchone()
            importer.execute(
                "SELECT 1 FROM resource_facts WHERE resource_type = %s AND fhir_id = %s FOR UPDATE",
                key,
            )
            held = fill_facts(rt.transaction, now=rt.clock.now(), batch=100)
            importer.rollback()  # the import's batch failed: nothing written
        rest = fill_facts(rt.transaction, now=rt.clock.now(), batch=100)
        filled = _columns(rt.engine)
        computed = _computed(rt.engine)
    assert not held.finished  # one fact is left, and the run says so
    assert held.filled == len(imported) - 1
    assert rest.finished
    assert held.filled + rest.filled == rest.filled_in_all == len(imported) == computed
    assert filled == imported
