"""Migration 0510 on databases holding a very long code or a code with a space."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import text

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


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0510_encodes_a_spaced_code(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'x.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("empty_postgresql_url")
    )
    engine = make_engine(url)
    try:
        migrate(engine, "0500")
        cast = "CAST(:r AS jsonb)" if kind == "postgresql" else ":r"
        with engine.begin() as c:
            c.execute(
                text(INSERT.format(codes=":codes", resource=cast)),
                {"codes": "http://l|x y http://l|50%", "r": OBSERVATION},
            )
        migrate(engine, "0510")
        with engine.begin() as c:
            assert (
                c.execute(text("SELECT codes FROM fhir_resources")).scalar()
                == "http://l|x%20y http://l|50%25"
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0510_downgrade_decodes(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    url = (
        f"sqlite:///{tmp_path / 'x.db'}"
        if kind == "sqlite"
        else request.getfixturevalue("empty_postgresql_url")
    )
    engine = make_engine(url)
    try:
        migrate(engine, "0510")
        cast = "CAST('{}' AS jsonb)" if kind == "postgresql" else "'{}'"
        with engine.begin() as c:
            c.execute(text(INSERT.format(codes="'http://l|x%20y http://l|50%25'", resource=cast)))
        _down(engine, "0500")
        with engine.begin() as c:
            assert set(c.execute(text("SELECT system, code FROM resource_codes")).all()) == {
                ("http://l", "x y"),
                ("http://l", "50%"),
            }
    finally:
        engine.dispose()
