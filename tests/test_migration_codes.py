"""Migration 0510 moves the codes of ``resource_codes`` into ``fhir_resources.codes`` and back."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from careloop.db import downgrade, make_engine, migrate

INSERT_RESOURCE = (
    "INSERT INTO fhir_resources (resource_type, fhir_id, patient_id, codes, supported, "
    "resource, imported_at) VALUES (:rtype, :fid, NULL, :codes, :supported, {json}, "
    "'2026-01-01 00:00:00+00')"
)
INSERT_CODE = (
    "INSERT INTO resource_codes (resource_type, fhir_id, system, code, patient_id) "
    "VALUES (:rtype, :fid, :system, :code, :pid)"
)
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RESOURCES = (
    # (type, id, codes column, its code rows)
    ("Observation", "two", f"{LOINC}|8302-2 {SNOMED}|27113001",
     [(LOINC, "8302-2"), (SNOMED, "27113001")]),
    ("Condition", "one", f"{SNOMED}|44054006", [(SNOMED, "44054006")]),
    ("Procedure", "rows-only", "", [(SNOMED, "73761001")]),  # written by hand, column empty
    ("Basic", "none", "", []),
)  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'codes.db'}"
    return str(request.getfixturevalue("empty_postgresql_url"))


def _code_rows(connection: object) -> set[tuple[str, str, str, str, str | None]]:
    rows = connection.execute(  # type: ignore[attr-defined]
        text("SELECT resource_type, fhir_id, system, code, patient_id FROM resource_codes")
    )
    return {tuple(row) for row in rows}


def test_codes_move_into_the_column_and_back(url: str) -> None:
    engine = make_engine(url)
    postgres = engine.dialect.name == "postgresql"
    try:
        migrate(engine, "0500")
        insert = INSERT_RESOURCE.format(json="CAST(:json AS jsonb)" if postgres else ":json")
        with engine.begin() as connection:
            for rtype, fid, codes, code_rows in RESOURCES:
                json = f'{{"resourceType": "{rtype}", "id": "{fid}"}}'
                params = {"rtype": rtype, "fid": fid, "codes": codes, "json": json}
                connection.execute(text(insert), {**params, "supported": True})
                for system, code in code_rows:
                    connection.execute(
                        text(INSERT_CODE),
                        {"rtype": rtype, "fid": fid, "system": system, "code": code, "pid": None},
                    )
            before = _code_rows(connection)

        migrate(engine, "0510")
        assert "resource_codes" not in inspect(engine).get_table_names()
        indexes = {i["name"] for i in inspect(engine).get_indexes("fhir_resources")}
        assert ("ix_fhir_resources_codes" in indexes) is postgres
        with engine.begin() as connection:
            columns = dict(
                connection.execute(text("SELECT fhir_id, codes FROM fhir_resources")).all()
            )
        assert columns == {
            "two": f"{LOINC}|8302-2 {SNOMED}|27113001",
            "one": f"{SNOMED}|44054006",
            "rows-only": f"{SNOMED}|73761001",
            "none": "",
        }

        downgrade(engine, "0500")
        with engine.begin() as connection:
            assert _code_rows(connection) == before
    finally:
        engine.dispose()
