"""The care team's side of the loop: escalation, suppression, burden, plans, SMS, gaps."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.careteam import alerts, intake, plans
from careloop.careteam.worklist import alert_burden, list_worklist
from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.feedback import dialogue
from careloop.feedback.catalog import default_catalog
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity, default_rules
from careloop.models import OutboxMessage
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.feedback.loop_payloads import DIARY, add_patients, diary, glucose
from tests.outreach.conftest import sync_content

NURSE = Principal(actor="user:nurse", role=Role.CLINICIAN)
RULES = list(default_rules())


def _reading(rt: Runtime, observation: dict) -> intake.IntakeResult:  # type: ignore[type-arg]
    with rt.transaction() as session:
        return intake.receive_observation(
            session, observation, clock=rt.clock, principal=NURSE, source="test"
        )


def test_overdue_alerts_escalate_once_per_deadline_and_urgent_comes_first(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-1", "lp-2")
    with rt.transaction() as session:
        intake.receive_questionnaire_response(
            session,
            diary("lp-1", {"vomiting": 3}, clock.now()),
            clock=clock,
            principal=NURSE,
            source="test",
        )
    _reading(rt, glucose("lp-2", 50, clock.now()))
    clock.advance(timedelta(hours=25))
    with rt.transaction() as session:
        first = alerts.escalate_overdue(session, clock.now())
        again = alerts.escalate_overdue(session, clock.now())
        entries = list_worklist(session, now=clock.now())
        escalations = list_events(session, kinds=["alert_escalated"])
    assert len(first) == 2
    assert again == []
    assert [(e.patient_id, e.priority, e.escalation_level) for e in entries] == [
        ("lp-2", 0, 1),
        ("lp-1", 0, 1),
    ]
    assert {e.payload["notify"] for e in escalations} == {
        "lead:rpm-nursing",
        "lead:oncology-nursing",
    }


def test_suppression_counts_repeats_after_resolution_instead_of_reopening(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-3")
    finding = Finding(
        rule_id="bp-crisis",
        title="Blood pressure in the crisis range",
        severity=Severity.URGENT,
        sla_hours=1,
        patient_id="lp-3",
        summary="Reading systolic_bp 185.",
        values={},
        evidence=("x",),
        program=None,
        team=None,
        source=None,
        suppress_repeats_hours=12,
    )
    with rt.transaction() as session:
        raised = alerts.raise_finding(session, finding, clock=clock, actor="test")
        alerts.resolve(
            session, raised.item_id, outcome="Seen in clinic", clock=clock, principal=NURSE
        )
        quiet = alerts.raise_finding(session, finding, clock=clock, actor="test")
    clock.advance(timedelta(hours=13))
    with rt.transaction() as session:
        later = alerts.raise_finding(session, finding, clock=clock, actor="test")
        burden = alert_burden(
            session, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(seconds=1)
        )
    assert quiet.suppressed
    assert quiet.item_id == raised.item_id
    assert later.created
    assert later.item_id != raised.item_id
    assert (burden["alerts_raised"], burden["suppressed"]) == (2, 1)


def test_alert_burden_is_alerts_per_check_in(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-4", "lp-5")
    with rt.transaction() as session:
        for pid, grades in (("lp-4", {"pain": 3}), ("lp-5", {}), ("lp-5", {"pain": 1})):
            intake.receive_questionnaire_response(
                session,
                diary(pid, grades, clock.now()),
                clock=clock,
                principal=NURSE,
                source="test",
            )
        burden = alert_burden(
            session, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(seconds=1)
        )
    assert (burden["checkins"], burden["alerts_from_checkins"], burden["alerts_per_checkin"]) == (
        3,
        1,
        0.333,
    )


def test_a_trend_proposal_is_approved_the_patient_is_told_and_the_outcome_monitored(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-6")
    start = clock.now()
    clock.set(start - timedelta(days=42))
    proposed: list[int] = []
    for _day in range(42):
        proposed.extend(_reading(rt, glucose("lp-6", 170, clock.now())).proposals)
        clock.advance(timedelta(days=1))
    proposed.extend(_reading(rt, glucose("lp-6", 172, clock.now())).proposals)
    (proposal_id,) = proposed
    with rt.transaction() as session:
        pending = plans.adjustment_outcome(
            session, proposal_id, now=clock.now(), rules=RULES, catalog=default_catalog()
        )
        row = plans.approve(
            session,
            proposal_id,
            clock=clock,
            principal=NURSE,
            settings=rt.settings,
            note="Visit booked",
        )
        task = dict(row.task)
        told = list_events(session, kinds=["plan_adjusted"])
        to_call = [e.rule_id for e in list_worklist(session, now=clock.now())]
    for _ in range(5):
        clock.advance(timedelta(days=1))
        _reading(rt, glucose("lp-6", 128, clock.now()))
    with rt.transaction() as session:
        outcome = plans.adjustment_outcome(
            session, proposal_id, now=clock.now(), rules=RULES, catalog=default_catalog()
        )
    assert pending.verdict == "pending"
    assert (task["status"], task["intent"], task["code"]["coding"][0]["code"]) == (
        "accepted",
        "plan",
        "follow_up_visit",
    )
    assert [e.kind for e in told] == ["plan_adjusted"]
    # No approved words are loaded here, so no message can carry the news: a person is asked.
    assert f"plan-explain:{proposal_id}" in to_call
    assert (outcome.verdict, outcome.metric, outcome.after_mean) == ("improved", "glucose", 128)


def test_plan_approval_needs_the_permission_and_a_decision_is_final(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    add_patients(rt, tmp_path, "lp-7")
    nurse = api_client("clinician")
    nurse.post("/fhir/QuestionnaireResponse", json=diary("lp-7", {"mouth-sores": 3}, clock.now()))
    (proposal,) = nurse.get("/api/plan-adjustments").json()
    assert proposal["task"]["status"] == "requested"
    assert proposal["task"]["intent"] == "proposal"
    assert (
        api_client("coordinator")
        .post(f"/api/plan-adjustments/{proposal['id']}/approve")
        .status_code
        == 403
    )
    rejected = nurse.post(
        f"/api/plan-adjustments/{proposal['id']}/reject", json={"note": "Already daily"}
    )
    assert rejected.json()["status"] == "rejected"
    assert nurse.post(f"/api/plan-adjustments/{proposal['id']}/approve").status_code == 409


def test_an_sms_check_in_with_a_severe_symptom_alerts_and_nonsense_goes_to_staff(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-8", "lp-9")
    with rt.transaction() as session:
        _, first = dialogue.open_checkin(
            session, patient_id="lp-8", questionnaire=DIARY, now=clock.now()
        )
        replies = [
            intake.handle_checkin_reply(session, patient_id="lp-8", text=text, now=clock.now())
            for text in ["0-4 scale", "zero", "1", "three", *["0"] * 12]
        ]
        dialogue.open_checkin(session, patient_id="lp-9", questionnaire=DIARY, now=clock.now())
        for text in ["2", "what", "??", "no idea"]:
            last = intake.handle_checkin_reply(
                session, patient_id="lp-9", text=text, now=clock.now()
            )
        nothing = intake.handle_checkin_reply(
            session, patient_id="lp-9", text="hello", now=clock.now()
        )
        entries = list_worklist(session, now=clock.now())
        replied = list_events(session, kinds=["replied"])
    assert first.startswith("(1/15) Nausea")
    assert [r.step for r in replies[:4]] == ["reprompt", "next", "next", "next"]
    assert replies[-1].step == "done"
    assert replies[-1].result is not None
    assert last.status == "needs_staff"
    assert nothing.message is None
    assert sorted((e.patient_id, e.rule_id, e.kind) for e in entries) == [
        ("lp-8", "symptom-severe-or-worsening", "alert"),
        ("lp-9", "checkin-needs-staff", "task"),
    ]
    assert len(replied) == 16 + 4


def test_readings_that_stop_get_a_nudge_then_a_task(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "lp-10")
    sync_content(rt)
    _reading(rt, glucose("lp-10", 120, clock.now()))
    clock.advance(timedelta(days=3, hours=1))
    with rt.transaction() as session:
        day3 = intake.evaluate_missing_data(session, clock.now(), settings=rt.settings)
        day3_again = intake.evaluate_missing_data(session, clock.now(), settings=rt.settings)
    clock.advance(timedelta(days=2))
    with rt.transaction() as session:
        day5 = intake.evaluate_missing_data(session, clock.now(), settings=rt.settings)
        entries = list_worklist(session, now=clock.now())
        nudges = session.scalars(select(OutboxMessage.content_message)).all()
    assert (day3, day3_again) == ({"nudged": ["lp-10"], "tasks": []}, {"nudged": [], "tasks": []})
    assert day5 == {"nudged": [], "tasks": ["lp-10"]}
    assert nudges == ["no_readings_3d"]
    assert [(e.rule_id, e.kind) for e in entries] == [("no-readings-3d", "task")]
