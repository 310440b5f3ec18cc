"""An escalated item says to whom it went and is held by someone: the lead's queue until a
person acknowledges it or is given it (walk finding 17)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from careloop.careteam import alerts
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.events import list_events
from careloop.feedback.ruleset import Severity
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.feedback.loop_payloads import add_patients

NURSE = Principal(actor="user:nurse", role=Role.CLINICIAN)


def _task(rt: Runtime, clock: FrozenClock, patient: str, team: str | None) -> int:
    with rt.transaction() as session:
        return alerts.create_task(
            session,
            patient_id=patient,
            rule_id="outreach-call-back",
            title="Patient asked for a call back",
            summary="Replied CALL.",
            severity=Severity.HIGH,
            clock=clock,
            actor="system:test",
            team=team,
        ).item_id


def test_an_unheld_overdue_item_goes_to_its_team_leads_queue_a_held_one_stays_held(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "esc-1", "esc-2", "esc-3")
    unheld = _task(rt, clock, "esc-1", "care-coordination")
    no_team = _task(rt, clock, "esc-2", None)
    held = _task(rt, clock, "esc-3", "care-coordination")
    with rt.transaction() as session:
        alerts.assign(session, held, assignee="nurse-kim", clock=clock, principal=NURSE)
    clock.advance(timedelta(hours=25))
    with rt.transaction() as session:
        alerts.escalate_overdue(session, clock.now())
        entries = {e.id: e for e in list_worklist(session, now=clock.now())}
        escalations = list_events(session, kinds=["alert_escalated"])
    notices = {int(e.subject_id or 0): e.payload for e in escalations}

    assert [(entries[i].escalated_to, entries[i].assignee) for i in (unheld, no_team, held)] == [
        ("lead:care-coordination", "lead:care-coordination"),
        ("lead:care-team", "lead:care-team"),
        ("lead:care-coordination", "nurse-kim"),
    ]
    assert notices[unheld]["assignee"] == "lead:care-coordination"
    assert notices[held]["notify"] == "lead:care-coordination"


def test_acknowledging_takes_an_item_out_of_the_leads_queue(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "esc-4")
    item = _task(rt, clock, "esc-4", "care-coordination")
    clock.advance(timedelta(hours=25))
    with rt.transaction() as session:
        alerts.escalate_overdue(session, clock.now())
        acked = alerts.acknowledge(session, item, clock=clock, principal=NURSE)
        assert acked.assignee == "user:nurse"


def test_a_worklist_entry_never_escalated_names_no_lead(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(rt, tmp_path, "esc-5")
    item = _task(rt, clock, "esc-5", "care-coordination")
    with rt.transaction() as session:
        entry = next(e for e in list_worklist(session, now=clock.now()) if e.id == item)
    assert (entry.escalated_to, entry.assignee) == (None, None)
