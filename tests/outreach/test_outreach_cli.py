"""``careloop outreach tick`` and ``careloop worker --once`` on a SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from tests.outreach.conftest import make_patient, sync_content
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import SystemClock
from careloop.models import FhirResource
from careloop.outreach.holdout import assign_arm
from careloop.outreach.states import Arm
from careloop.runtime import open_runtime


def _outreach_patient() -> str:
    return next(
        pid
        for pid in (f"cli-{i}" for i in range(100))
        if assign_arm(program="appointment-reminders", patient_id=pid, share=0.1) is Arm.OUTREACH
    )


def test_tick_enrolls_from_booked_appointments_and_worker_runs_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    rt = open_runtime(database=url, clock=SystemClock())
    pid = _outreach_patient()
    make_patient(rt, patient_id=pid, phone="+15550100051")
    sync_content(rt)
    start = datetime.now(UTC) + timedelta(days=2)
    with rt.transaction() as session:
        session.add(
            FhirResource(
                resource_type="Appointment",
                fhir_id="appt-1",
                patient_id=pid,
                status="booked",
                effective_start=start,
                codes="",
                supported=True,
                resource={
                    "resourceType": "Appointment",
                    "id": "appt-1",
                    "status": "booked",
                    "start": start.isoformat(),
                },
                imported_at=datetime.now(UTC),
            )
        )
    rt.close()
    runner = CliRunner()

    tick = runner.invoke(app, ["outreach", "tick", "--database", url, "--json"])
    again = runner.invoke(app, ["outreach", "tick", "--database", url, "--json"])
    work = runner.invoke(app, ["worker", "--database", url, "--once", "--json", "--id", "t"])
    listed = runner.invoke(app, ["outreach", "enrollments", "--database", url, "--json"])

    assert tick.exit_code == 0, tick.output
    report = orjson.loads(tick.stdout)["by_program"]["appointment-reminders"]
    assert (report["enrolled"], report["queued"]) == (1, 1)
    assert "appointment-reminders" not in orjson.loads(again.stdout)["by_program"]
    assert work.exit_code == 0, work.output
    assert set(orjson.loads(work.stdout)) >= {"claimed", "sent", "dead"}
    assert [e["state"] for e in orjson.loads(listed.stdout)] == ["enrolled"]


def test_unknown_program_is_a_one_line_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli2.db'}"
    result = CliRunner().invoke(app, ["outreach", "tick", "--database", url, "-p", "nope"])

    assert result.exit_code == 2
    assert "unknown program" in result.output
