"""A staff voice message left on an answering machine: the voicemail-safe line is spoken, in
the patient's language (never an empty ``<Say/>``, never English read by a Spanish voice)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import orjson
import pytest
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.outreach.config import outreach_settings
from careloop.outreach.voice_calls import call_twiml
from careloop.runtime import open_runtime
from careloop.settings import get_settings

WEEKDAY_MORNING_IN_BOSTON = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)


def test_a_staff_call_to_a_spanish_patient_leaves_a_spanish_voicemail(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(SystemClock, "now", lambda self: WEEKDAY_MORNING_IN_BOSTON)
    get_settings.cache_clear()
    patient = {
        "resourceType": "Patient",
        "id": "call-es",
        "name": [{"family": "Ruiz", "given": ["Eva"]}],
        "telecom": [{"system": "phone", "value": "(617) 555-0142", "use": "mobile"}],
        "communication": [{"language": {"coding": [{"code": "es"}]}, "preferred": True}],
        "address": [{"city": "Boston", "state": "MA", "country": "US"}],
    }
    path = tmp_path / "patient.json"
    path.write_bytes(
        orjson.dumps(
            {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient}]}
        )
    )
    database = f"sqlite:///{tmp_path / 'voice.db'}"
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(path), "--database", database]).exit_code == 0
    sent = runner.invoke(
        app,
        ["send", "call-es", "--channel", "voice", "--text", "Su cita es el martes.", "--json"],
        env={"CARELOOP_DATABASE_URL": database},
    )
    assert sent.exit_code == 0, sent.output
    message_id = orjson.loads(sent.stdout)["id"]

    rt = open_runtime(database=database, run_migrations=False)
    with rt.transaction() as session:
        twiml = call_twiml(
            session,
            message_id=message_id,
            answered_by="machine_end_beep",
            base_url="https://care.example",
            settings=outreach_settings(rt.settings)[0],
            voices={"es": "Polly.Lupe"},
        )
    rt.close()
    spoken = [(s.text or "", s.get("language")) for s in ElementTree.fromstring(twiml).iter("Say")]
    get_settings.cache_clear()

    assert spoken
    assert all(text.strip() for text, _ in spoken)
    assert all(language == "es-US" for _, language in spoken)
    assert "Por favor llame" in spoken[0][0]
    assert "Su cita" not in twiml  # a machine never records what staff wrote
