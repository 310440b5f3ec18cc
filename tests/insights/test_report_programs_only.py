"""``careloop report`` shows the programs a manager runs, and says when an uplift is noise.

After a demo the programs table carried a row of zeros for each one-off message
(``request:<message>``) and exam-prep journey (``prep:<kind>``), and a holdout of 1 gave
"+20.0% (-60.6%, +51.0%)" with nothing saying it means nothing."""

from __future__ import annotations

import json
from datetime import date, timedelta

from tests.insights.test_report import _patient
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.events import record_event
from careloop.periods import parse_period
from careloop.runtime import Runtime

runner = CliRunner()
PERIOD = "2026-03-01/2026-03-31"
START = parse_period(PERIOD)[0]


def _pilot(rt: Runtime, clock: FrozenClock, *, treated: int, holdout: int) -> None:
    """A program, half of each arm completing, and the loop's own entries for one patient."""
    clock.set(START)
    with rt.transaction() as session:
        for i in range(treated + holdout):
            pid = f"p{i:02d}"
            _patient(session, pid, language="en", born=date(1960, 1, 1))
            arm = "holdout" if i >= treated else "treatment"
            event = {"clock": clock, "actor": "test", "patient_id": pid, "program": "breast"}
            record_event(session, kind="eligible", **event)
            record_event(session, kind="enrolled", payload={"arm": arm}, **event)
            if i % 2 == 0:
                record_event(
                    session, kind="completed", occurred_at=START + timedelta(days=9), **event
                )
        for program in ("request:slot_offer", "request:slot_offer", "prep:colonoscopy"):
            record_event(
                session, kind="decided", clock=clock, actor="test", patient_id="p00",
                program=program,
            )  # fmt: skip


def _report(database_url: str, *extra: str) -> str:
    result = runner.invoke(
        app,
        ["report", "--period", PERIOD, *extra, "--database", database_url],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    return result.stdout


def test_the_table_lists_programs_and_summarises_the_loops_own_entries(
    rt: Runtime, clock: FrozenClock, database_url: str
) -> None:
    _pilot(rt, clock, treated=20, holdout=20)

    text = _report(database_url)
    data = json.loads(_report(database_url, "--json"))

    assert "Slot offer request" not in text
    assert "Colonoscopy prep" not in text
    assert (
        "Not programs, left out above: exam-prep journeys (prep:..., 1 kind, 1 event); "
        "one-off messages (request:..., 1 kind, 2 events)" in text
    )
    assert [p["program"] for p in data["programs"]] == ["breast"]
    assert data["internal"] == [
        {"program": "prep:colonoscopy", "kind": "prep", "patients": 1, "events": 1},
        {"program": "request:slot_offer", "kind": "request", "patients": 1, "events": 2},
    ]
    assert {"period", "program", "programs", "feedback_loop", "record"} <= set(data)
    assert "too few to tell" not in text  # 20 a side: the uplift stands alone


def test_a_holdout_of_one_is_marked_too_few_to_tell_beside_the_uplift(
    rt: Runtime, clock: FrozenClock, database_url: str
) -> None:
    _pilot(rt, clock, treated=12, holdout=1)

    text = _report(database_url)
    intended = json.loads(_report(database_url, "--json"))["programs"][0]["experiment"][
        "as_intended"
    ]

    assert "too few to tell: a holdout of 1" in text
    assert intended["too_few"] == "too few to tell: a holdout of 1"
    assert intended["power_note"].startswith("too few to tell: a holdout of 1 (at least 10")
