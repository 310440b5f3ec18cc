"""Bad input is reported (file, entry, reason), the good records are kept, nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from careloop.cli import app
from careloop.records import service
from careloop.runtime import Runtime
from tests.conftest import FIXTURES

FHIR = FIXTURES / "fhir"
SAMPLE_FILE = sorted(
    (FIXTURES.parents[1] / "src" / "careloop" / "data" / "synthea-sample").glob("*.json")
)[0]
runner = CliRunner()


def _run(database_url: str, *paths: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = runner.invoke(app, ["import", *paths, "--database", database_url, "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}


def test_truncated_json_is_rejected_with_its_file_and_nothing_is_stored(
    database_url: str, rt: Runtime
) -> None:
    code, summary = _run(database_url, str(FHIR / "truncated.json"))
    assert code == 1
    assert summary["rejected"][0]["file"].endswith("truncated.json")
    assert "not valid JSON" in summary["rejected"][0]["reason"]
    with rt.transaction() as session:
        assert service.count_resources(session) == {}


def test_an_entry_without_resource_type_is_skipped_and_the_rest_kept(
    database_url: str, rt: Runtime
) -> None:
    code, summary = _run(database_url, str(FHIR / "missing_resource_type.json"))
    assert code == 0
    assert summary["resources"] == {"Observation": 1, "Patient": 1}
    assert summary["rejected"] == [
        {
            "file": str(FHIR / "missing_resource_type.json"),
            "entry": 2,
            "reason": "resourceType is missing",
        }
    ]


def test_a_wrong_typed_field_names_the_field(database_url: str) -> None:
    code, summary = _run(database_url, str(FHIR / "wrong_typed_field.json"))
    assert code == 0
    [rejection] = summary["rejected"]
    assert rejection["entry"] == 2
    assert rejection["reason"].startswith("Observation.valueQuantity.value")
    assert summary["resources"]["Observation"] == 1


def test_an_unresolvable_reference_rejects_only_that_entry(database_url: str) -> None:
    code, summary = _run(database_url, str(FHIR / "unresolvable_reference.json"))
    assert code == 0
    [rejection] = summary["rejected"]
    assert rejection["entry"] == 2
    assert "does not resolve" in rejection["reason"]


def test_an_ndjson_file_with_one_bad_line_keeps_the_other_lines(
    database_url: str, rt: Runtime
) -> None:
    code, summary = _run(database_url, str(FHIR / "bad_line.ndjson"))
    assert code == 0
    assert summary["resources"] == {"Observation": 3, "Patient": 1}
    assert [(r["entry"], r["reason"][:18]) for r in summary["rejected"]] == [
        (3, "not valid JSON (un")
    ]
    with rt.transaction() as session:
        record = service.get_patient_record(session, patient_id="fx-pat-2")
    assert record.resource_counts == {"Observation": 3, "Patient": 1}


def test_a_missing_path_is_a_clear_error_without_traceback(database_url: str) -> None:
    result = runner.invoke(app, ["import", "/no/such/file.json", "--database", database_url])
    assert result.exit_code == 1
    assert "no such file or folder" in result.stdout
    assert "Traceback" not in result.stdout + (result.stderr or "")


def test_errors_never_echo_patient_data(database_url: str) -> None:
    _code, summary = _run(database_url, str(FHIR / "wrong_typed_field.json"))
    text = json.dumps(summary)
    for secret in ("Testperson", "+1555", "heavy"):
        assert secret not in text


def test_unsupported_types_can_be_skipped_and_are_reported(database_url: str) -> None:
    result = runner.invoke(
        app,
        ["import", str(SAMPLE_FILE), "--no-keep-unsupported", "--database", database_url, "--json"],
    )
    summary = json.loads(result.stdout)
    assert result.exit_code == 0
    assert summary["skipped"]["Organization"] >= 1
    assert "Organization" not in summary["resources"]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_file_the_database_refuses_is_reported_and_the_files_written_with_it_are_kept(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    # Files are written several per transaction; the batch fails on the middle file (a
    # resource type longer than its column, which PostgreSQL refuses), so each file is
    # written again alone: the other two are stored and nothing of the middle one is.
    for name, patient in (("a", "pa"), ("b", "pb"), ("c", "pc")):
        entries = [{"resource": {"resourceType": "Patient", "id": patient}}]
        if name == "b":
            entries.append({"resource": {"resourceType": "X" * 80, "id": "long"}})
        bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        (tmp_path / f"{name}.json").write_text(json.dumps(bundle))
    code, summary = _run(database_url, str(tmp_path))
    assert code == 0
    assert summary["rejected"] == [
        {
            "file": str(tmp_path / "b.json"),
            "entry": None,
            "reason": "not stored: database error (StringDataRightTruncation)",
        }
    ]
    assert summary["resources"] == {"Patient": 2}
    with rt.transaction() as session:
        assert service.count_resources(session) == {"Patient": 2}
