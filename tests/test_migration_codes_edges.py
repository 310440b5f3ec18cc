"""Migration 0510 on databases holding a very long code or a code with a space."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from careloop.db import downgrade as _down
from careloop.db import make_engine, migrate

INSERT = (
    "INSERT INTO fhir_resources "
    "(resource_type, fhir_id, patient_id, codes, supported, resource, imported_at) "
    "VALUES ('Observation', 'o1', NULL, {codes}, true, {resource}, '2026-01-01 00:00:00+00')"
)
OBSERVATION = (
    '{"resourceType": "Observation", "id": "o1", "status": "final", "code": {"coding": ['
    '{"system": "http://l", "code": "x y"}, {"system": "http://l", "code": "50%"}]}}'
)


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database of each kind."""
    url = (
        f"sqlite:///{tmp_path / 'x.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_postgresql_url")
    )
    made = make_engine(url)
    try:
        yield made
    finally:
        made.dispose()


def _json(engine: Engine, value: str) -> str:
    return f"CAST({value} AS jsonb)" if engine.dialect.name == "postgresql" else value


def test_0510_upgrades_a_database_holding_a_code_too_long_for_an_index_row(
    empty_postgresql_url: str,
) -> None:
    engine = make_engine(empty_postgresql_url)
    try:
        migrate(engine, "0500")
        with engine.begin() as c:
            c.execute(
                text(INSERT.format(codes=":codes", resource="CAST('{}' AS jsonb)")),
                {"codes": "http://loinc.org|" + secrets.token_hex(1500)},
            )
        migrate(engine, "0510")
    finally:
        engine.dispose()


def test_0510_encodes_a_spaced_code(engine: Engine) -> None:
    migrate(engine, "0500")
    with engine.begin() as c:
        c.execute(
            text(INSERT.format(codes=":codes", resource=_json(engine, ":r"))),
            {"codes": "http://l|x y http://l|50%", "r": OBSERVATION},
        )
    migrate(engine, "0510")
    with engine.begin() as c:
        assert (
            c.execute(text("SELECT codes FROM fhir_resources")).scalar()
            == "http://l|x%20y http://l|50%25"
        )


def test_0510_downgrade_decodes(engine: Engine) -> None:
    migrate(engine, "0510")
    with engine.begin() as c:
        c.execute(
            text(
                INSERT.format(
                    codes="'http://l|x%20y http://l|50%25'", resource=_json(engine, "'{}'")
                )
            )
        )
    _down(engine, "0500")
    with engine.begin() as c:
        assert set(c.execute(text("SELECT system, code FROM resource_codes")).all()) == {
            ("http://l", "x y"),
            ("http://l", "50%"),
        }
