"""One record per person across sources; caregivers and their availability."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from careloop.cli import app
from careloop.records import service
from careloop.records.availability import is_available, parse_window
from careloop.runtime import Runtime
from tests.conftest import FIXTURES

FHIR = FIXTURES / "fhir"
runner = CliRunner()


def _import(database_url: str, *names: str) -> dict:  # type: ignore[type-arg]
    result = runner.invoke(
        app, ["import", *(str(FHIR / n) for n in names), "--database", database_url, "--json"]
    )
    assert result.exit_code == 0, result.stdout
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_two_sources_sharing_an_identifier_are_one_patient(database_url: str, rt: Runtime) -> None:
    _import(database_url, "good_bundle.json")
    summary = _import(database_url, "second_source.json")
    with rt.transaction() as session:
        ids = service.patient_ids(session)
        record = service.get_patient_record(session, patient_id="fx-pat-1")
    assert summary["identity_links"] == 1
    assert ids == ["fx-pat-1"]
    assert record.sources == ["fx-pat-1", "other-system-77"]
    assert {cp.value for cp in record.contact_points} == {
        "+15550100001",
        "ana@example.org",
        "+15550100002",
    }
    assert (record.timezone, record.timezone_source) == ("America/Chicago", "extension")
    assert record.language == "es"


def test_caregiver_availability_comes_from_the_extension_and_can_be_changed(
    database_url: str, rt: Runtime
) -> None:
    _import(database_url, "good_bundle.json", "second_source.json")
    with rt.transaction() as session:
        [caregiver] = service.get_patient_record(session, patient_id="fx-pat-1").caregivers
    assert caregiver.relationship == "husband"
    assert caregiver.availability_text == "mon-fri 15:00-21:00"

    result = runner.invoke(
        app,
        [
            "caregivers",
            "set-availability",
            "fx-rp-1",
            "--window",
            "mon-fri 16:00-20:00",
            "--window",
            "sat-sun 09:00-20:00",
            "--database",
            database_url,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["text"] == "mon-fri 16:00-20:00; sat-sun 09:00-20:00"


def test_a_bad_window_is_a_clear_cli_error(database_url: str) -> None:
    _import(database_url, "good_bundle.json", "second_source.json")
    result = runner.invoke(
        app,
        [
            "caregivers",
            "set-availability",
            "fx-rp-1",
            "--window",
            "someday 25:00-26:00",
            "--database",
            database_url,
        ],
    )
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_a_spouse_working_until_three_is_reachable_only_after() -> None:
    windows = [parse_window("mon-fri 15:00-21:00"), parse_window("sat-sun 09:00-20:00")]
    tz = ZoneInfo("America/New_York")
    assert not is_available(windows, datetime(2026, 3, 4, 11, 0, tzinfo=tz))  # Wednesday
    assert is_available(windows, datetime(2026, 3, 4, 15, 30, tzinfo=tz))
    assert is_available(windows, datetime(2026, 3, 7, 11, 0, tzinfo=tz))  # Saturday


def test_patients_show_prints_the_record_as_json(database_url: str) -> None:
    _import(database_url, "good_bundle.json")
    result = runner.invoke(
        app, ["patients", "show", "fx-pat-1", "--database", database_url, "--json"]
    )
    assert result.exit_code == 0
    record = json.loads(result.stdout)
    assert record["id"] == "fx-pat-1"
    assert record["timeline"][0]["code"] == "29463-7"


def test_patients_show_for_an_unknown_id_is_a_clear_error(database_url: str) -> None:
    result = runner.invoke(app, ["patients", "show", "nobody", "--database", database_url])
    assert result.exit_code == 2
    assert "no such patient" in result.output


def test_a_shared_identifier_with_a_different_birth_date_is_not_the_same_person(
    database_url: str, rt: Runtime, tmp_path: Path
) -> None:
    bundle = json.loads((FHIR / "second_source.json").read_text())
    bundle["entry"][0]["resource"]["birthDate"] = "1988-01-01"
    other = tmp_path / "other_person.json"
    other.write_text(json.dumps(bundle))
    _import(database_url, "good_bundle.json")
    summary = _import(database_url, str(other))
    with rt.transaction() as session:
        ids = service.patient_ids(session)
    assert summary["identity_links"] == 0
    assert ids == ["fx-pat-1", "other-system-77"]
