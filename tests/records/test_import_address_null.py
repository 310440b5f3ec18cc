"""A record's address column after an import: SQL NULL for a patient never given one, JSON
null for one whose address was dropped (as the ORM wrote them before the demographics were
updated by one Core statement)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import text
from typer.testing import CliRunner

from careloop.cli import app
from careloop.runtime import Runtime

PATIENT: dict[str, Any] = {"resourceType": "Patient", "id": "no-address", "gender": "female",
                           "name": [{"family": "Doe", "given": ["Ana"]}]}  # fmt: skip
ADDRESS = {"address": [{"city": "Boston", "state": "MA"}]}


def _import(database_url: str, path: Path, patient: dict[str, Any]) -> None:
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": patient}]}))  # fmt: skip
    result = CliRunner().invoke(app, ["import", str(path), "--database", database_url])
    assert result.exit_code == 0, result.output


def _address(rt: Runtime) -> tuple[bool, Any]:
    with rt.transaction() as session:
        row = session.execute(text("SELECT address IS NULL, address FROM patients")).one()
    return bool(row[0]), row[1]


def test_a_patient_never_given_an_address_keeps_a_sql_null_one(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    path = tmp_path / "p.json"
    _import(database_url, path, PATIENT)
    first = _address(rt)
    _import(database_url, path, PATIENT)  # a re-import of the same record
    assert (first, _address(rt)) == ((True, None), (True, None))


def test_a_dropped_address_is_json_null(database_url: str, rt: Runtime, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    _import(database_url, path, {**PATIENT, **ADDRESS})
    _import(database_url, path, PATIENT)
    assert _address(rt)[0] is False
