"""``careloop medications reminders PATIENT_ID --json``: the contract of issue #23."""

from __future__ import annotations

import json
import re
from datetime import datetime

from typer.testing import CliRunner

from careloop.cli import app
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication

runner = CliRunner()


def test_reminders_json_lists_each_medicine_and_slot(rt: Runtime, database_url: str) -> None:
    now = rt.clock.now()
    make_patient(rt, patient_id="p-cli", timezone="America/Chicago")
    add_resources(
        rt,
        "p-cli",
        medication("MedicationRequest", "mr-1", when=now),
        medication(
            "MedicationStatement",
            "ms-1",
            code="617314",
            name="atorvastatin 10 MG",
            when=now,
            timing={"repeat": {"when": ["HS"]}},
        ),
        medication(
            "MedicationRequest",
            "mr-old",
            code="197361",
            name="amlodipine",
            status="stopped",
            when=now,
        ),
    )
    result = runner.invoke(
        app, ["medications", "reminders", "p-cli", "--json", "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["medication"], r["slot"]) for r in rows] == [
        ("atorvastatin 10 MG", "bedtime"),
        ("metformin 500 MG Oral Tablet", "morning"),
        ("metformin 500 MG Oral Tablet", "evening"),
    ]
    for row in rows:
        assert set(row) == {"medication", "slot", "next_reminder", "basis"}
        moment = datetime.fromisoformat(row["next_reminder"])
        assert moment.utcoffset() is not None
        assert re.search(r"[+-]\d\d:\d\d$", row["next_reminder"])
    assert rows[1]["basis"] == "from the prescription (BID): 08:00"
    assert datetime.fromisoformat(rows[1]["next_reminder"]).strftime("%H:%M") == "08:00"
    # Bedtime 21:30 falls in the default quiet hours (21-08): reminded just before them.
    assert rows[0]["basis"].endswith("moved to 20:59, outside quiet hours 21-08")


def test_unknown_patient_is_one_line_and_exit_2(database_url: str, rt: Runtime) -> None:
    result = runner.invoke(
        app, ["medications", "reminders", "nobody", "--json", "--database", database_url]
    )
    assert result.exit_code == 2
    assert "no such patient" in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_help_explains_the_contract() -> None:
    result = runner.invoke(app, ["medications", "reminders", "--help"])
    assert result.exit_code == 0
    text = re.sub(r"[│\s]+", " ", result.output)
    assert '"next_reminder"' in text
    assert "quiet hours" in text


def test_ae_queue_export_and_report_figures(rt: Runtime, database_url: str) -> None:
    from careloop.medications.replies import handle_reply

    now = rt.clock.now()
    make_patient(rt, patient_id="p-pv")
    add_resources(rt, "p-pv", medication("MedicationRequest", "mr-pv", when=now))
    with rt.transaction() as session:
        handle_reply(
            session,
            patient_id="p-pv",
            text="3 rash and I went to the hospital",
            channel="sms",
            at=now,
            clock=rt.clock,
            actor="patient",
        )
    queue = runner.invoke(app, ["medications", "ae-queue", "--json", "--database", database_url])
    assert queue.exit_code == 0, queue.output
    (entry,) = json.loads(queue.stdout)
    assert entry["serious"] is True
    assert "p-pv" not in queue.stdout
    export = runner.invoke(
        app,
        [
            "medications",
            "ae-export",
            str(entry["case"]),
            "--by",
            "pv-ana",
            "--database",
            database_url,
        ],
    )
    assert export.exit_code == 0, export.output
    e2b = json.loads(export.stdout)
    assert e2b["E.i"][0]["E.i.3.2c"] is True
    assert "Rosa" not in export.stdout
    missing = runner.invoke(app, ["medications", "ae-export", "999", "--database", database_url])
    assert missing.exit_code == 2
    assert "no such adverse-event case" in missing.output
    report = runner.invoke(
        app, ["report", "--json", "--period", "2026-03-01/2026-03-31", "--database", database_url]
    )
    assert report.exit_code == 0, report.output
    figures = json.loads(report.stdout)["medications"]
    assert figures["doses"]["skipped"] == 1
    assert figures["adverse_events"]["cases"] == 1
    assert figures["adverse_events"]["serious"] == 1
