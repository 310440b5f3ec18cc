"""The typed columns of ``resource_facts``: import writes them, the backfill writes the same.

Import has two writers on PostgreSQL (``COPY`` of new resources, the upsert of known ones)
and one on SQLite; the background backfill (``records.fact_backfill``) computes the columns
again from stored rows. Every column of every fact must come out equal whichever wrote it.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from careloop.clock import FrozenClock
from careloop.db import downgrade, make_engine, make_sessionmaker, migrate
from careloop.records.fact_backfill import fill_facts
from careloop.records.fact_columns import (
    FACT_COLUMNS,
    FactRow,
    computed_columns,
    pairs_text,
    parse_pairs,
)
from careloop.records.importer import import_paths
from careloop.security.principal import CLI_OPERATOR
from tests.conftest import SHARED_DATA, START

SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
CASES = SHARED_DATA / "ecqm-qicore-2024" / "testcases"
LOINC = "http://loinc.org"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'facts.db'}"
    return str(request.getfixturevalue("empty_postgresql_url"))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two Synthea patients and the first eCQM test case's bundles, in one folder."""
    folder = tmp_path_factory.mktemp("facts")
    for path in sorted(SYNTHEA.glob("*.json"))[:2]:
        shutil.copy(path, folder / path.name)
    case = sorted(p for p in CASES.iterdir() if p.is_dir())[0]
    for path in sorted(case.glob("*.json"))[:3]:
        shutil.copy(path, folder / f"case-{path.name}")
    return folder


def _import(engine: Engine, folder: Path) -> None:
    summary = import_paths(
        make_sessionmaker(engine),
        engine=engine,
        paths=[folder],
        clock=FrozenClock(START),
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []


def _columns(engine: Engine) -> dict[tuple[str, str], tuple[Any, ...]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(f"SELECT resource_type, fhir_id, {', '.join(FACT_COLUMNS)} FROM resource_facts")
        ).all()
    return {(row[0], row[1]): tuple(row[2:]) for row in rows}


def test_the_backfill_writes_what_import_writes(url: str, files: Path) -> None:
    engine = make_engine(url)
    try:
        migrate(engine)
        _import(engine, files)
        imported = _columns(engine)
        if engine.dialect.name == "postgresql":
            _import(engine, files)  # known resources now: the upsert writes them again
            assert _columns(engine) == imported

        downgrade(engine, "0540")
        migrate(engine)
        assert set(_columns(engine).values()) == {(None,) * len(FACT_COLUMNS)}
        sessions = make_sessionmaker(engine)
        fill_facts(sessions.begin, now=START, batch=100)

        backfilled = _columns(engine)
    finally:
        engine.dispose()
    assert backfilled == imported
    assert len(imported) > 300
    values = list(zip(*imported.values(), strict=True))
    for column, found in zip(FACT_COLUMNS, values, strict=True):
        assert any(value is not None for value in found), column


def test_a_column_holds_the_pairs_the_code_index_reads() -> None:
    observation = {
        "resourceType": "Observation",
        "code": {"coding": [{"system": LOINC, "code": "8480-6"}, {"code": "no-system"}]},
        "category": [{"coding": [{"system": "cat", "code": "vital-signs"}]}],
        "valueQuantity": {"value": 120, "unit": "mm[Hg]"},
    }
    columns = computed_columns(observation)
    assert columns["value_num"] == 120.0
    assert columns["value_unit"] == "mm[Hg]"
    assert parse_pairs(columns["code_pairs"]) == ((LOINC, "8480-6"),)
    assert parse_pairs(columns["category_pairs"]) == (("cat", "vital-signs"),)
    encounter = {"resourceType": "Encounter", "type": [], "class": {"system": "s", "code": "AMB"}}
    assert computed_columns(encounter)["code_pairs"] == ""
    assert parse_pairs(computed_columns(encounter)["category_pairs"]) == (("s", "AMB"),)


def test_pairs_that_cannot_be_written_exactly_are_left_to_the_fact() -> None:
    odd = {"resourceType": "Condition", "code": {"coding": [{"system": 7, "code": "x"}]}}
    assert computed_columns(odd)["code_pairs"] is None
    assert pairs_text((("a\x1fb", "c"),)) is None
    row = FactRow(
        "Condition", frozenset(), None, b'{"code": {"coding": [{"system": 7, "code": "x"}]}}'
    )
    assert row.pairs("code") == ((7, "x"),)
    assert row.fact["code"]["coding"][0]["code"] == "x"


def test_the_backfill_reads_each_fact_once(empty_postgresql_url: str) -> None:
    # Keyset slices of 2,000 facts: each must start where the last one ended (an index
    # search), not read again every fact before it (quadratic: hours on millions of facts).
    engine = make_engine(empty_postgresql_url)
    removed: list[int] = []
    try:
        migrate(engine)
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO fhir_resources (resource_type, fhir_id, codes, supported, "
                    "resource, source, imported_at) SELECT 'Condition', 'c' || lpad(g::text, 5, "
                    "'0'), '', true, '{}'::jsonb, 's', now() FROM generate_series(1, 5000) g"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO resource_facts (resource_type, fhir_id, codes) "
                    "SELECT resource_type, fhir_id, '' FROM fhir_resources"
                )
            )
            connection.execute(
                text(
                    "INSERT INTO resource_fact_bodies (resource_type, fhir_id, fact) "
                    "SELECT resource_type, fhir_id, resource FROM fhir_resources"
                )
            )

        @event.listens_for(engine, "connect")
        def as_on_a_large_table(dbapi_connection: Any, _: Any) -> None:
            # The plan PostgreSQL picks for millions of facts, on these 5,000.
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SET enable_seqscan = off; SET enable_sort = off")
            dbapi_connection.commit()

        engine.dispose()  # connections made from now on plan as on a large table

        @event.listens_for(engine, "before_cursor_execute")
        def explain(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
            if statement.startswith("SELECT resource_facts.resource_type, resource_facts.fhir_id"):
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
                plan = json.dumps(cursor.fetchone()[0])
                removed.append(sum(map(int, re.findall(r'"Rows Removed by Filter": (\d+)', plan))))

        result = fill_facts(make_sessionmaker(engine).begin, now=START, batch=2000)
    finally:
        engine.dispose()
    assert (result.filled, result.slices, result.finished) == (5000, 3, True)
    # Three slices of 2,000 facts at most: their keys, then their rows; past the end, the
    # look for a fact passed over (none).
    assert len(removed) == 7
    assert removed == [0] * 7
