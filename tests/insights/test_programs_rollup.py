"""The programs page's figures stored by the ``programs-rollup`` job equal the live figures
of the same moment, the page reads them (and says when they were computed) instead of
aggregating the log on every request, and a new run replaces them (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.insights.test_report_programs_page import START, _seed

from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner, configured_jobs
from careloop.events import NewEvent, record_events
from careloop.insights.rollup import (
    WEEKS,
    compute_programs_figures,
    read_programs_rollup,
    write_programs_rollup,
)
from careloop.runtime import Runtime

END = START + timedelta(weeks=WEEKS)


def _rollup_job(rt: Runtime) -> JobRunner:
    return JobRunner(rt, [j for j in configured_jobs(rt) if j.name == "programs-rollup"])


def test_the_stored_figures_equal_the_live_computation_of_that_moment(
    rt: Runtime, clock: FrozenClock
) -> None:
    _seed(rt, clock)
    clock.set(END)
    (outcome,) = _rollup_job(rt).run_due()
    assert outcome.status == "ok"
    assert outcome.result == {"programs": 3}
    with rt.transaction() as session:
        stored = read_programs_rollup(session, weeks=WEEKS)
        live = compute_programs_figures(session, now=END, weeks=WEEKS)
    assert stored is not None
    assert stored.computed_at == END
    assert stored.report == live.report
    assert stored.weekly == live.weekly
    assert sum(r["sent"] for _, w in stored.weekly for p in w["programs"] for r in p["channels"])


def test_the_page_reads_the_rollup_says_when_and_a_new_run_replaces_it(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    _seed(rt, clock)
    clock.set(END)
    coordinator = api_client("coordinator")
    live_page = coordinator.get("/console/programs")
    assert live_page.status_code == 200
    assert 'id="figures-as-of"' not in live_page.text  # no rollup yet: computed on the request
    with rt.transaction() as session:
        write_programs_rollup(session, now=END)
    stored_page = coordinator.get("/console/programs")
    as_of = '<p class="muted" id="figures-as-of">Figures as of 2026-04-26 20:00 EDT, computed by'
    assert as_of in stored_page.text  # in the clinic's zone, labelled
    # The same moment's figures: the page is the live one but for that sentence.
    line = as_of + stored_page.text.split(as_of)[1].split("</p>")[0] + "</p>"
    assert stored_page.text.replace(line, "") == live_page.text

    # A new completion shows only once the job has run again.
    clock.advance(timedelta(hours=1))
    with rt.transaction() as session:
        record_events(
            session,
            events=[
                NewEvent(
                    kind="completed",
                    actor="test",
                    patient_id=f"p{i:03d}",
                    program="bp",
                    occurred_at=clock.now() - timedelta(minutes=1),
                )
                for i in range(120)
            ],
            clock=clock,
        )
        before = read_programs_rollup(session, weeks=WEEKS)
    assert before is not None
    completed = _completed(before.report, "bp")
    assert _completed(_stored(rt).report, "bp") == completed
    with rt.transaction() as session:
        write_programs_rollup(session, now=clock.now())
    assert _completed(_stored(rt).report, "bp") > completed
    assert "Figures as of 2026-04-26 21:00 EDT" in coordinator.get("/console/programs").text
    # Another window than the stored one is computed on the request.
    assert 'id="figures-as-of"' not in coordinator.get("/console/programs?weeks=4").text


def _stored(rt: Runtime) -> Any:
    with rt.transaction() as session:
        return read_programs_rollup(session, weeks=WEEKS)


def _completed(report: dict[str, Any], program: str) -> int:
    found = next(p for p in report["programs"] if p["program"] == program)
    return int(found["completion"]["completed"])
