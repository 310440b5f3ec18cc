"""``careloop report``: KPIs and holdout uplift computed from the event log."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from typer.testing import CliRunner

from careloop.clock import FrozenClock
from careloop.events import record_event
from careloop.insights.report import build_report
from careloop.models import Patient
from careloop.periods import parse_period
from careloop.runtime import Runtime

runner = CliRunner()


def _patient(session, pid: str, *, language: str, born: date) -> None:  # type: ignore[no-untyped-def]
    session.add(
        Patient(
            id=pid,
            language=language,
            gender="female",
            birth_date=born,
            timezone="UTC",
            timezone_source="default",
            deceased=False,
            contact_points=[],
            created_at=START,
            updated_at=START,
        )
    )


START = parse_period("2026-03-01/2026-03-31")[0]


def _pilot(rt: Runtime, clock: FrozenClock) -> None:
    """40 treated: 30 texted, 12 reply within 72 h, 15 complete; 20 holdout: 3 complete."""
    with rt.transaction() as session:
        for i in range(60):
            pid = f"p{i:02d}"
            _patient(session, pid, language="es" if i % 2 else "en", born=date(1960, 1, 1))
            arm = "holdout" if i >= 40 else "treatment"
            event = {"clock": clock, "actor": "test", "patient_id": pid, "program": "breast"}
            record_event(session, kind="eligible", **event)
            record_event(session, kind="enrolled", payload={"arm": arm}, **event)
            if i < 30:
                record_event(
                    session,
                    kind="sent",
                    payload={"channel": "sms", "send_window": "17-20"},
                    occurred_at=START + timedelta(days=1),
                    **event,
                )
            if i < 12:
                record_event(
                    session, kind="replied", occurred_at=START + timedelta(days=2), **event
                )
            if 12 <= i < 14:
                record_event(
                    session, kind="replied", occurred_at=START + timedelta(days=9), **event
                )
            if i < 15 or 40 <= i < 43:
                record_event(
                    session, kind="completed", occurred_at=START + timedelta(days=20), **event
                )


def test_the_report_counts_reach_engagement_completion_and_uplift(
    rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(START)
    _pilot(rt, clock)
    start, end = parse_period("2026-03-01/2026-03-31")
    with rt.transaction() as session:
        report = build_report(session, start=start, end=end)
    [program] = report["programs"]
    assert program["reach"] == {"eligible": 60, "enrolled": 60, "holdout": 20, "contacted": 30}
    assert program["engagement"] == {"engaged_within_72h": 12, "rate": 0.4}
    assert program["completion"]["completed"] == 18
    experiment = program["experiment"]["as_intended"]
    assert experiment["treated_rate"] == 0.375
    assert experiment["holdout_rate"] == 0.15
    low, high = experiment["ci95"]
    assert low < experiment["difference"] < high
    assert program["channels"][0]["channel"] == "sms"
    assert program["channels"][0]["engagement_rate"] == 0.4
    assert report["period"] == {"start": "2026-03-01", "end": "2026-03-31"}


def test_fairness_review_compares_languages_and_hides_small_groups(
    rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(START)
    _pilot(rt, clock)
    start, end = parse_period("2026-03-01/2026-03-31")
    with rt.transaction() as session:
        report = build_report(session, start=start, end=end)
    reviews = {(r["outcome"], r["attribute"]): r for r in report["programs"][0]["fairness"]}
    language = reviews[("engagement", "language")]
    assert {g["group"] for g in language["groups"]} == {"en", "es"}
    assert all(g["n"] == 15 for g in language["groups"])
    sex = reviews[("completion", "sex")]
    assert sex["groups"][0]["n"] == 40
    assert "p01" not in json.dumps(report)


def test_report_cli_writes_json_and_an_html_page(
    rt: Runtime, clock: FrozenClock, database_url: str, tmp_path: Path
) -> None:
    from careloop.cli import app

    clock.set(START)
    _pilot(rt, clock)
    page = tmp_path / "report.html"
    result = runner.invoke(
        app,
        [
            "report",
            "--period",
            "2026-03-01/2026-03-31",
            "--html",
            str(page),
            "--json",
            "--database",
            database_url,
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["programs"][0]["program"] == "breast"
    html = page.read_text()
    assert "<svg" in html
    assert "Completion: treated vs holdout" in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_a_bad_period_is_a_clear_error(database_url: str) -> None:
    from careloop.cli import app

    result = runner.invoke(app, ["report", "--period", "2026-13-01/x", "--database", database_url])
    assert result.exit_code == 2
    assert "not a period" in result.output


def test_an_analyst_gets_the_report_but_a_patient_does_not(
    rt: Runtime,
    clock: FrozenClock,
    api_client,  # type: ignore[no-untyped-def]
) -> None:
    clock.set(START)
    _pilot(rt, clock)
    analyst = api_client("analyst")
    response = analyst.get("/api/reports/programs", params={"period": "2026-03-01/2026-03-31"})
    assert response.status_code == 200
    assert response.json()["programs"][0]["reach"]["enrolled"] == 60
    assert analyst.get("/api/reports/programs.html").headers["content-type"].startswith("text/html")
    assert api_client("patient", patient_id="p01").get("/api/reports/programs").status_code == 403
    bad = analyst.get("/api/reports/programs", params={"period": "yesterday"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "period"
