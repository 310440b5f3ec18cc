"""GET /api/patients/{id}: the record, behind authentication and per-patient access."""

from __future__ import annotations

from typer.testing import CliRunner

from careloop.cli import app
from tests.conftest import FIXTURES

runner = CliRunner()


def _load(database_url: str) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            str(FIXTURES / "fhir" / "good_bundle.json"),
            str(FIXTURES / "fhir" / "bad_line.ndjson"),
            "--database",
            database_url,
        ],
    )
    assert result.exit_code == 0


def test_a_clinician_reads_the_record(database_url: str, api_client) -> None:  # type: ignore[no-untyped-def]
    _load(database_url)
    response = api_client("clinician").get("/api/patients/fx-pat-1")
    assert response.status_code == 200
    body = response.json()
    assert body["language"] == "es"
    assert body["timeline"][0]["resource_type"] == "Observation"


def test_without_credentials_the_answer_is_401(database_url: str, api_client) -> None:  # type: ignore[no-untyped-def]
    _load(database_url)
    response = api_client(None).get("/api/patients/fx-pat-1")
    assert response.status_code == 401
    assert "Testperson" not in response.text


def test_a_patient_sees_only_their_own_record(database_url: str, api_client) -> None:  # type: ignore[no-untyped-def]
    _load(database_url)
    client = api_client("patient", patient_id="fx-pat-2")
    assert client.get("/api/patients/fx-pat-2").status_code == 200
    other = client.get("/api/patients/fx-pat-1")
    assert other.status_code == 404
    assert "Testperson" not in other.text


def test_an_analyst_may_not_read_identified_records(database_url: str, api_client) -> None:  # type: ignore[no-untyped-def]
    _load(database_url)
    assert api_client("analyst").get("/api/patients/fx-pat-1").status_code == 403


def test_a_coordinator_sees_contacts_but_not_the_clinical_timeline(
    database_url: str, api_client
) -> None:  # type: ignore[no-untyped-def]
    _load(database_url)
    body = api_client("coordinator").get("/api/patients/fx-pat-1").json()
    assert body["contact_points"]
    assert body["timeline"] == []
