"""Issue 14: the demo pilot produces check-ins, and a fever on chemotherapy raises the alert.

The simulated pilot (``careloop demo``'s engage step) runs the real scheduler, outbox, worker
and inbound SMS handler; the synthetic oncology patients are dated from the demo clock.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from sqlalchemy import select

from careloop.careteam.intake import receive_observation
from careloop.cli.demo_run import DEMO_PRINCIPAL, DemoReport, step_engage
from careloop.clock import FrozenClock
from careloop.compose.pilot import run_pilot
from careloop.compose.pilot_checkins import oncology_bundle
from careloop.models import CheckinConversation, FhirResource, WorklistItem
from careloop.runtime import Runtime, open_runtime


def test_the_bundle_is_dated_from_the_demo_clock() -> None:
    now = datetime(2031, 7, 1, 9, tzinfo=UTC)
    bundle, phones = oncology_bundle(now, patients=3)
    assert len(phones) == 3
    chemo = [
        e["resource"]["performedDateTime"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Procedure"
    ]
    assert chemo == [(now - timedelta(days=8)).isoformat()] * 3


def test_the_pilot_runs_check_ins_and_a_fever_on_chemo_raises_the_urgent_alert(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    # Two weeks: a patient whom another program reaches on the first day (by voice, say) waits
    # for the contact budget before the check-in goes out.
    report = run_pilot(rt, weeks=2)
    checkins = report.checkins
    assert checkins.patients == 6
    assert checkins.checkins_completed == 6
    assert checkins.questions_answered == 6 * 15
    # Only the patient who reported fever "a lot" alerts; mild, stable symptoms raise nothing.
    assert dict(checkins.alerts) == {"febrile-neutropenia-reported (urgent)": 1}
    assert checkins.burden["checkins"] == 6
    assert checkins.burden["alerts_per_checkin"] == round(1 / 6, 3)
    assert report.as_dict()["checkins"]["alerts_per_checkin"] == round(1 / 6, 3)
    with rt.transaction() as session:
        rows = session.scalars(select(CheckinConversation)).all()
        chemo = session.scalars(
            select(FhirResource.resource).where(FhirResource.resource_type == "Procedure")
        ).all()
    assert {r.status for r in rows} == {"completed"}
    # Dates follow the demo clock: chemotherapy 8 days before the pilot started.
    assert {c["performedDateTime"] for c in chemo if c["id"].endswith("-chemo")} == {
        (clock.now().replace(minute=0, second=0, microsecond=0) - timedelta(days=8)).isoformat()
    }
    assert all(r.started_at >= clock.now() - timedelta(hours=1) for r in rows)


def test_the_demo_prints_check_ins_and_alerts(tmp_path: Path) -> None:
    """The demo's own SQLite database, its 6-week pilot: weekly check-ins repeat."""
    rt = open_runtime(database=f"sqlite:///{tmp_path / 'demo.db'}")
    printed = io.StringIO()
    report = DemoReport(database="demo.db")
    try:
        step_engage(rt, Console(file=printed, width=200), report)
        fever = _fever_after_the_pilot(rt, "pilot-onc-02")
    finally:
        rt.close()
    # The patients are still on chemotherapy when the pilot ends (a cycle every 21 days): a
    # thermometer's 38.9 °C the day the demo is served raises the urgent alert on the worklist.
    assert fever == [("febrile-neutropenia", "urgent")]
    text = printed.getvalue()
    assert "Check-ins: 6 oncology patients" in text
    assert "1 febrile-neutropenia-reported (urgent)" in text
    section = report.sections["pilot"]["checkins"]
    assert section["checkins_completed"] > 6  # more than one round in 6 weeks
    # Every completed check-in answered all 15; one still under way when the pilot ends may
    # have answered some.
    completed = 15 * section["checkins_completed"]
    assert completed <= section["questions_answered"] < completed + 15 * 6
    assert 0 < section["alerts_per_checkin"] <= 0.34  # PRO-TECT's 34 % as the ceiling


def _fever_after_the_pilot(rt: Runtime, patient: str) -> list[tuple[str, str]]:
    """A thermometer's 38.9 °C now; the worklist items it raised, as (rule, severity)."""
    reading = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8331-1"}]},
        "subject": {"reference": f"Patient/{patient}"},
        "effectiveDateTime": rt.clock.now().isoformat(),
        "valueQuantity": {
            "value": 38.9,
            "unit": "Cel",
            "system": "http://unitsofmeasure.org",
            "code": "Cel",
        },
    }
    with rt.transaction() as session:
        before = set(session.scalars(select(WorklistItem.id)).all())
        receive_observation(
            session, reading, clock=rt.clock, principal=DEMO_PRINCIPAL, source="mqtt"
        )
        raised = session.scalars(select(WorklistItem).where(WorklistItem.id.not_in(before)))
        return [(item.rule_id, str(item.severity)) for item in raised]
