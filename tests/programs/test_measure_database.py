"""Without PATH, ``careloop measure evaluate`` reads the imported records (same answers)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from fhir_builders import MAMMOGRAM, bundle, encounter, lab, patient
from typer.testing import CliRunner

from careloop.cli import app

PERIOD = "2025-01-01/2025-12-31"
runner = CliRunner()


def test_database_mode_agrees_with_file_mode(tmp_path: Path) -> None:
    screened = [
        patient(pid="screened", birth="1961-03-04"),
        encounter(day="2025-02-01", eid="v1"),
        lab(code=MAMMOGRAM, day="2024-12-01"),
    ]
    due = [patient(pid="due", birth="1958-07-09"), encounter(day="2025-05-01", eid="v2")]
    for name, resources in (("screened", screened), ("due", due)):
        (tmp_path / f"{name}.json").write_bytes(orjson.dumps(bundle(resources)))
    database = f"sqlite:///{tmp_path / 'careloop.db'}"
    imported = runner.invoke(app, ["import", str(tmp_path), "--database", database, "--json"])
    assert imported.exit_code == 0, imported.stderr

    args = ["measure", "evaluate", "--measure", "CMS125", "--period", PERIOD, "--json"]
    from_db = runner.invoke(app, [*args, "--database", database])
    from_files = runner.invoke(
        app, [*args, str(tmp_path / "screened.json"), str(tmp_path / "due.json")]
    )

    assert from_db.exit_code == 0, from_db.stderr
    by_patient = {r["patient"]: r for r in json.loads(from_db.stdout)}
    assert by_patient == {r["patient"]: r for r in json.loads(from_files.stdout)}
    assert by_patient["due"]["care_gap"] is True
    assert by_patient["screened"]["care_gap"] is False
