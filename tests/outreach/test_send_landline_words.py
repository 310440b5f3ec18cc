"""``careloop send --channel sms`` says why a patient's phone cannot take the text.

A number the record calls a mobile but the line-type look-up found to be a landline was
refused with "the patient has no mobile number on file", which a nurse looking at a mobile
number in the record could not square: the words now say it is a landline (never the number).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.records.test_line_types import _bundle
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.models import Patient
from careloop.runtime import open_runtime
from careloop.settings import Settings

PATIENT = "lt-1"  # the one in ``_bundle``
WEEKDAY_MORNING_IN_BOSTON = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def _import(tmp_path: Path, database_url: str, telecom: list[dict[str, str]]) -> None:
    path = _bundle(tmp_path, telecom)
    imported = CliRunner().invoke(app, ["import", str(path), "--database", database_url])
    assert imported.exit_code == 0, imported.output


def _send(database_url: str, channel: str = "sms") -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["send", PATIENT, "--channel", channel, "--text", "Hi."],
        env={"CARELOOP_DATABASE_URL": database_url},
    )
    return result.exit_code, result.output.strip()


@pytest.fixture
def weekday_morning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mobile_looked_up_as_a_landline_is_named_a_landline(
    database_url: str, tmp_path: Path
) -> None:
    _import(
        tmp_path, database_url, [{"system": "phone", "value": "(617) 555-0199", "use": "mobile"}]
    )
    # What the importer writes when ``channels.lookup`` answers "landline" for the number.
    rt = open_runtime(settings=Settings(database_url=database_url))
    with rt.transaction() as session:
        patient = session.get(Patient, PATIENT)
        assert patient is not None
        patient.contact_points = [
            {**cp, "line_type": "landline"} for cp in patient.contact_points or []
        ]
    rt.close()

    code, said = _send(database_url)
    called, _ = _send(database_url, "voice")

    assert code == 2
    assert said.splitlines() == [
        "error: the message may not be sent: the patient's number on file as a mobile is a"
        " landline (the phone company's line-type look-up says so), and a landline cannot take"
        " texts; add their mobile to the record, or call them (no_contact_point)"
    ]
    assert "555" not in said  # no PHI: the number is never in the words
    assert called == 0  # the landline takes a call


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_number_that_cannot_be_read_is_named_so(database_url: str, tmp_path: Path) -> None:
    _import(
        tmp_path,
        database_url,
        [
            {"system": "phone", "value": "call the daughter", "use": "mobile"},
            {"system": "email", "value": "ana@example.org"},
        ],
    )

    code, said = _send(database_url)

    assert code == 2
    assert said.splitlines() == [
        "error: the message may not be sent: the patient's phone number on file could not be"
        " read as a phone number, so it is never texted or dialled; correct it in the record,"
        " or write to them (no_contact_point)"
    ]


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_nothing_on_file_for_the_channel_is_not_read_as_a_refusal(
    database_url: str, tmp_path: Path
) -> None:
    """No email on file said "the patient has not agreed to email messages", as if they had
    refused; and a patient with an email only was "not agreed" to texts."""
    _import(tmp_path, database_url, [{"system": "phone", "value": "(617) 555-0100", "use": "home"}])

    code, said = _send(database_url, "email")

    assert code == 2
    assert said.splitlines() == [
        "error: the message may not be sent: the patient has no email address on file (no_consent)"
    ]


@pytest.mark.usefixtures("weekday_morning")
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_patient_without_a_phone_is_told_as_much(database_url: str, tmp_path: Path) -> None:
    _import(tmp_path, database_url, [{"system": "email", "value": "ana@example.org"}])

    code, said = _send(database_url)

    assert code == 2
    assert said.startswith(
        "error: the message may not be sent: the patient has no phone number on file; add"
        " their mobile to the record ("
    )
