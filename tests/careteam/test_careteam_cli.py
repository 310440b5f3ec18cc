"""``careloop worklist list``, ``alerts ack/resolve``, ``rules list/test``."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from typer.testing import CliRunner

from careloop.careteam import intake
from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.feedback.loop_payloads import add_patients, blood_pressure, diary, weight

runner = CliRunner()


def test_the_worklist_from_the_command_line(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, database_url: str
) -> None:
    add_patients(rt, tmp_path, "cli-1")
    with rt.transaction() as session:
        intake.receive_observation(
            session,
            blood_pressure("cli-1", 200, 110, clock.now()),
            clock=clock,
            principal=CLI_OPERATOR,
            source="test",
        )
    listed = runner.invoke(app, ["worklist", "list", "--json", "--database", database_url])
    (entry,) = orjson.loads(listed.stdout)
    acked = runner.invoke(
        app, ["alerts", "ack", str(entry["id"]), "--by", "kim", "--database", database_url]
    )
    resolved = runner.invoke(
        app,
        [
            "alerts",
            "resolve",
            str(entry["id"]),
            "--outcome",
            "ED referral",
            "--json",
            "--database",
            database_url,
        ],
    )
    missing = runner.invoke(app, ["alerts", "ack", "99999", "--database", database_url])
    assert entry["rule_id"] == "bp-crisis"
    assert acked.exit_code == 0
    assert "acknowledged" in acked.stdout
    assert orjson.loads(resolved.stdout)["status"] == "resolved"
    assert missing.exit_code == 2
    assert "Traceback" not in missing.output


def test_rules_list_and_rules_test_on_fhir_files(tmp_path: Path) -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    record = tmp_path / "record.json"
    record.write_bytes(
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Condition",
                            "id": "c1",
                            "subject": {"reference": "Patient/p1"},
                            "code": {
                                "coding": [{"system": "http://snomed.info/sct", "code": "84114007"}]
                            },
                        }
                    },
                    {"resource": weight("p1", 79.5, datetime(2026, 3, 1, 8, 0, tzinfo=UTC))},
                ],
            }
        )
    )
    inputs = tmp_path / "inputs.json"
    inputs.write_bytes(
        orjson.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {"resource": weight("p1", 81.8, at)},
                    {"resource": diary("p1", {"fever-chills": 3}, at)},
                ],
            }
        )
    )
    listed = runner.invoke(app, ["rules", "list", "--json"])
    tested = runner.invoke(
        app,
        [
            "rules",
            "test",
            str(inputs),
            "--record",
            str(record),
            "--now",
            "2026-03-02T10:00:00+00:00",
            "--json",
        ],
    )
    bad = runner.invoke(app, ["rules", "test", str(tmp_path / "nope.json")])
    assert {r["id"] for r in orjson.loads(listed.stdout)} >= {
        "bp-crisis",
        "phq9-item9-positive",
        "no-readings-3d",
    }
    assert [f["rule"] for f in orjson.loads(tested.stdout)] == [
        "hf-weight-gain-2kg-2d",
        "symptom-emergency",  # fever or chills "a lot" is urgent (issue 14)
    ]
    assert bad.exit_code == 2


def test_rules_test_refuses_a_time_it_cannot_read_in_one_line() -> None:
    for moment in ("next tuesday", "2026-03-02T10:00:00"):  # unreadable; no zone
        refused = runner.invoke(app, ["rules", "test", "--now", moment, "in.json"])
        assert refused.exit_code == 2
        assert "error: --now" in refused.output
        assert "Traceback" not in refused.output


def test_rules_test_reads_a_command_line_time_with_a_space(tmp_path: Path) -> None:
    # A person types "2026-03-02 10:00+00:00"; the FHIR rule's 'T' is not asked of them.
    inputs = tmp_path / "in.json"
    inputs.write_bytes(orjson.dumps({"resourceType": "Bundle", "type": "collection", "entry": []}))
    read = runner.invoke(app, ["rules", "test", str(inputs), "--now", "2026-03-02 10:00+00:00"])
    assert read.exit_code == 0, read.output
