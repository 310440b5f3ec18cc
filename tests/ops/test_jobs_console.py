"""The console's jobs page shows what `careloop jobs list` shows: last run, next run, failures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from careloop.clock import FrozenClock
from careloop.compose.jobs import Job, JobRunner
from careloop.runtime import Runtime


def test_an_operator_sees_a_failing_job_and_when_it_runs_next(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    def broken(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        raise RuntimeError("patient Jane Doe is unreachable")

    def fine(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        return {"done": 1}

    JobRunner(
        rt,
        [
            Job("retention_purge", timedelta(hours=6), broken),
            Job("escalations", timedelta(hours=1), fine),
        ],
        owner="w1",
    ).run_due()
    page = api_client("admin").get("/console/jobs")
    assert page.status_code == 200
    row = page.text.split('id="job-retention_purge"')[1].split("</tr>")[0]
    assert "failed (RuntimeError)" in row
    assert (clock.now() + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M") in row  # retried soon
    assert "Jane" not in page.text  # the error's message may quote data: only its class shows
    fine_row = page.text.split('id="job-escalations"')[1].split("</tr>")[0]
    assert "ok" in fine_row
    assert "overdue" not in fine_row
    assert 'href="/console/jobs"' in page.text  # offered in the navigation

    clock.advance(timedelta(hours=3))  # no worker ran since: the hourly job is overdue
    assert "overdue" in api_client("admin").get("/console/jobs").text


def test_the_jobs_page_is_the_operators_only(rt: Runtime, api_client: Any) -> None:
    for role in ("clinician", "coordinator", "analyst"):
        page = api_client(role).get("/console/jobs")
        assert page.status_code == 403, role
        assert 'href="/console/jobs"' not in api_client(role).get("/console/programs").text
