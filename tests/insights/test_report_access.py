"""``careloop report``: the access program's booking, time to visit and no-shows vs its holdout."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from careloop.clock import FrozenClock
from careloop.events import record_event
from careloop.insights.report import build_report
from careloop.models import FhirResource, Patient
from careloop.periods import parse_period
from careloop.runtime import Runtime

runner = CliRunner()
PERIOD = "2026-03-01/2026-03-31"
START = parse_period(PERIOD)[0]


def _appointment(aid: str, pid: str, status: str, start: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [{"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"}],
    }


def _population(rt: Runtime, clock: FrozenClock) -> None:
    """20 treated, 10 holdout; the gap is found on 1 March for everyone.

    Treated: 20 offers, 12 booked (visits on day 5: 9 attended, 1 missed, 2 still booked),
    one more cancelled. Holdout: 4 book through the practice (visits on day 15: 2 attended,
    2 missed); one visit before the gap does not count.
    """
    clock.set(START)
    appointments: list[tuple[str, dict[str, Any]]] = []
    with rt.transaction() as session:
        for i in range(30):
            pid = f"a{i:02d}"
            session.add(
                Patient(
                    id=pid,
                    language="en",
                    gender="female",
                    birth_date=date(1950, 1, 1),
                    timezone="UTC",
                    timezone_source="default",
                    deceased=False,
                    contact_points=[],
                    created_at=START,
                    updated_at=START,
                )
            )
            arm = "holdout" if i >= 20 else "treatment"
            event = {"clock": clock, "actor": "test", "patient_id": pid}
            record_event(session, kind="eligible", program="access", **event)
            record_event(session, kind="enrolled", program="access", payload={"arm": arm}, **event)
            if i < 20:
                offered = START + timedelta(days=1)
                record_event(
                    session,
                    kind="slots_offered",
                    subject_type="offer",
                    subject_id=f"offer-{i}",
                    occurred_at=offered,
                    payload={"choices": 3, "kind": "offer"},
                    **event,
                )
            visit = START + timedelta(days=5, hours=15)
            if i < 12:
                record_event(
                    session,
                    kind="slot_booked",
                    subject_type="booking",
                    subject_id=f"b-{i}",
                    occurred_at=START + timedelta(days=2),
                    payload={"offer": f"offer-{i}", "slot": f"s-{i}"},
                    **event,
                )
                status = "noshow" if i == 0 else "booked" if i in (10, 11) else "fulfilled"
                if i in (10, 11):
                    visit = START + timedelta(days=40)
                appointments.append((pid, _appointment(f"b-{i}", pid, status, visit)))
            elif i == 12:
                appointments.append((pid, _appointment("b-12", pid, "cancelled", visit)))
            elif 20 <= i < 24:
                status = "noshow" if i < 22 else "fulfilled"
                appointments.append(
                    (pid, _appointment(f"ehr-{i}", pid, status, START + timedelta(days=15)))
                )
            elif i == 25:
                appointments.append(
                    (pid, _appointment("ehr-old", pid, "fulfilled", START - timedelta(days=10)))
                )
        session.flush()
        for pid, resource in appointments:
            session.add(
                FhirResource(
                    resource_type="Appointment",
                    fhir_id=resource["id"],
                    patient_id=pid,
                    status=resource["status"],
                    supported=True,
                    resource=resource,
                    imported_at=START,
                )
            )


def test_access_figures_are_set_against_the_randomized_holdout(
    rt: Runtime, clock: FrozenClock
) -> None:
    _population(rt, clock)
    start, end = parse_period(PERIOD)
    with rt.transaction() as session:
        report = build_report(session, start=start, end=end)
    [program] = report["programs"]
    access = program["access"]
    assert access["offers"] == 20
    assert access["offers_booked"] == 12
    assert access["conversion_per_offer"] == 0.6
    booked = access["booked"]
    assert booked["treated"] == {"n": 20, "count": 12, "rate": 0.6}
    assert booked["holdout"] == {"n": 10, "count": 4, "rate": 0.4}
    assert booked["difference"] == 0.2
    low, high = booked["ci95"]
    assert low < 0.2 < high
    # The two visits still ahead count as booked but have no outcome yet.
    assert access["days_gap_to_visit"] == {
        "treated_median": 5.62,
        "holdout_median": 15.0,
        "difference": -9.38,
    }
    noshow = access["noshow"]
    assert noshow["treated"] == {"n": 10, "count": 1, "rate": 0.1}
    assert noshow["holdout"] == {"n": 4, "count": 2, "rate": 0.5}
    assert noshow["difference"] == -0.4
    assert "a01" not in json.dumps(access)


def test_a_program_without_offers_has_no_access_section(rt: Runtime, clock: FrozenClock) -> None:
    clock.set(START)
    with rt.transaction() as session:
        session.add(
            Patient(
                id="x1",
                language="en",
                gender="male",
                birth_date=date(1950, 1, 1),
                timezone="UTC",
                timezone_source="default",
                deceased=False,
                contact_points=[],
                created_at=START,
                updated_at=START,
            )
        )
        event = {"clock": clock, "actor": "test", "patient_id": "x1", "program": "flu"}
        record_event(session, kind="enrolled", payload={"arm": "treatment"}, **event)
    start, end = parse_period(PERIOD)
    with rt.transaction() as session:
        [program] = build_report(session, start=start, end=end)["programs"]
    assert "access" not in program


def test_report_cli_shows_the_access_figures_as_text_json_and_html(
    rt: Runtime, clock: FrozenClock, database_url: str, tmp_path: Path
) -> None:
    from careloop.cli import app

    _population(rt, clock)
    page = tmp_path / "report.html"
    base = ["report", "--period", PERIOD, "--database", database_url]
    as_json = runner.invoke(app, [*base, "--json", "--html", str(page)])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.stdout)["programs"][0]["access"]["conversion_per_offer"] == 0.6
    html = page.read_text()
    assert "Access: offers, visits and no-shows against the holdout" in html
    assert "12 booked" in html
    text = runner.invoke(app, base, terminal_width=200)
    assert text.exit_code == 0, text.output
    assert "12 of 20 offers booked (60.0%)" in text.stdout
    assert "no-show" in text.stdout
    assert "10.0% of 10" in text.stdout
