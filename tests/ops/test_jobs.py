"""Periodic jobs: one home (the worker loop), leased so two processes never double-run one,
schedules from settings, last/next run and failures visible."""

from __future__ import annotations

import os
import subprocess
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.compose.jobs import Job, JobRunner, configured_jobs, job_status
from careloop.db import make_engine, migrate
from careloop.models import JobRun
from careloop.runtime import Runtime
from careloop.settings import JobsSettings, Settings

runner = CliRunner()
ALL_JOBS = {
    "outreach-tick",
    "escalations",
    "missing-data",
    "retention-purge",
    "fhir-subscriptions",
    "fhir-exports",
    "review-invitations",
    "programs-rollup",
    "ride-dispatch",
    "fact-backfill",
}


def _status(rt: Runtime) -> dict[str, dict[str, Any]]:
    with rt.transaction() as session:
        return {row["name"]: row for row in job_status(session)}


def test_every_job_runs_when_due_and_not_again_before_its_period(
    rt: Runtime, clock: FrozenClock
) -> None:
    jobs = JobRunner(rt, owner="w1")
    assert {o.name for o in jobs.run_due()} == ALL_JOBS
    assert jobs.run_due() == []
    clock.advance(timedelta(minutes=2))
    every_minute = ["escalations", "fhir-subscriptions", "fhir-exports", "fact-backfill"]
    assert [o.name for o in jobs.run_due()] == every_minute
    status = _status(rt)
    assert status["escalations"]["runs"] == 2
    assert status["retention-purge"]["runs"] == 1
    assert status["retention-purge"]["last_status"] == "ok"
    assert status["retention-purge"]["last_owner"] == "w1"
    assert status["missing-data"]["next_run_at"] == clock.now() - timedelta(minutes=2) + timedelta(
        days=1
    )


def test_schedules_come_from_settings_and_zero_switches_a_job_off(rt: Runtime) -> None:
    rt.settings = Settings(
        database_url=rt.settings.database_url,
        jobs=JobsSettings(retention_purge_minutes=0, escalations_minutes=15),
    )
    jobs = {j.name: j.every for j in configured_jobs(rt)}
    assert "retention-purge" not in jobs
    assert jobs["escalations"] == timedelta(minutes=15)
    rt.settings = Settings(database_url=rt.settings.database_url, jobs=JobsSettings(enabled=False))
    assert configured_jobs(rt) == []


def test_a_failing_job_is_recorded_retried_soon_and_stops_no_other(
    rt: Runtime, clock: FrozenClock
) -> None:
    def broken(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        raise RuntimeError("patient Jane Doe is unreachable")

    def fine(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        return {"done": 1}

    jobs = JobRunner(
        rt,
        [Job("broken", timedelta(hours=6), broken), Job("fine", timedelta(hours=6), fine)],
        owner="w1",
    )
    assert [(o.name, o.status) for o in jobs.run_due()] == [("broken", "failed"), ("fine", "ok")]
    status = _status(rt)
    assert status["broken"]["last_error"] == "RuntimeError"
    assert status["broken"]["consecutive_failures"] == 1
    assert status["broken"]["next_run_at"] == clock.now() + timedelta(minutes=5)
    url = str(rt.settings.database_url)
    shown = runner.invoke(app, ["jobs", "list", "--database", url, "--json"])
    assert shown.exit_code == 0, shown.output
    listed = {row["name"]: row for row in orjson.loads(shown.output)}
    assert listed["broken"]["last_status"] == "failed"
    assert listed["broken"]["failures"] == 1
    assert "Jane" not in shown.output
    table = runner.invoke(app, ["jobs", "list", "--database", url], env={"COLUMNS": "200"})
    assert "failed (RuntimeError)" in table.output


def test_a_job_leased_by_one_process_is_not_run_by_another(rt: Runtime) -> None:
    started, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def slow(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        ran.append("slow")
        started.set()
        release.wait()
        return {}

    job = [Job("slow", timedelta(hours=1), slow)]
    first = JobRunner(rt, job, owner="first")
    second = JobRunner(rt, job, owner="second")
    thread = threading.Thread(target=first.run_due)
    thread.start()
    assert started.wait(60)
    assert second.run_due() == []
    release.set()
    thread.join()
    assert second.run_due() == []
    assert ran == ["slow"]
    assert _status(rt)["slow"]["runs"] == 1


def test_a_lease_left_by_a_dead_process_is_taken_over_after_it_expires(
    rt: Runtime, clock: FrozenClock
) -> None:
    job = Job("nightly", timedelta(hours=24), lambda _rt, _now: {})
    dead = JobRunner(rt, [job], owner="dead")
    with rt.transaction() as session:
        dead._ensure_rows(session, clock.now())
    assert dead._claim(job, clock.now())
    heir = JobRunner(rt, [job], owner="heir")
    assert heir.run_due() == []
    clock.advance(timedelta(minutes=rt.settings.jobs.lease_minutes + 1))
    assert [o.name for o in heir.run_due()] == ["nightly"]
    with rt.transaction() as session:
        row = session.scalars(select(JobRun)).one()
    assert row.last_owner == "heir"
    assert row.lease_owner is None


def test_two_worker_processes_on_postgresql_run_each_job_once(
    empty_postgresql_url: str, careloop_cli: Path, tmp_path: Path
) -> None:
    engine = make_engine(empty_postgresql_url)
    migrate(engine)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARELOOP_")}
    procs = [
        subprocess.Popen(
            [
                str(careloop_cli),
                "worker",
                "--once",
                "--json",
                "--id",
                f"w{i}",
                "--database",
                empty_postgresql_url,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp_path,
        )
        for i in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()[-2000:]
        outputs.append({j["name"] for j in orjson.loads(out)["jobs"]})
    assert outputs[0] | outputs[1] == ALL_JOBS
    assert outputs[0] & outputs[1] == set()
    try:
        with engine.connect() as conn:
            runs = dict(conn.execute(select(JobRun.name, JobRun.runs)).all())
    finally:
        engine.dispose()
    assert runs == dict.fromkeys(ALL_JOBS, 1)
