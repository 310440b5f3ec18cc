"""Role x page x action: the console shows and does exactly what the API allows (issue 21, item 2).

The expectations are written out here, not derived from ``security.roles``, so a change to
the permission code that widens access fails this test.
"""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from careloop.careteam.alerts import create_task, raise_finding
from careloop.careteam.plans import PlanStatus, reject
from careloop.careteam.proposals import propose_change
from careloop.events import EventKind, record_event
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity
from careloop.models import PlanAdjustment
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from tests.governance.conftest import PATIENT_A, load

STAFF = ("admin", "clinician", "nurse", "coordinator", "analyst")

# Console page -> the roles that get it (everyone else: 403 page).
PAGES = {
    "/console/worklist": {"clinician", "nurse", "coordinator"},
    "/console/patients": {"clinician", "nurse", "coordinator"},
    f"/console/patients/{PATIENT_A}": {"clinician", "nurse", "coordinator"},
    "/console/programs": {"admin", "clinician", "nurse", "coordinator", "analyst"},
    "/console/content": {"admin", "clinician", "nurse", "coordinator", "analyst"},
    "/console/jobs": {"admin"},
    "/console/fhir-deliveries": {"admin"},
    "/console/appointments": {"clinician", "nurse", "coordinator"},
}

# API read -> the roles that get it (everyone else: 403).
API_READS = {
    f"/api/patients/{PATIENT_A}": {"clinician", "nurse", "coordinator"},
    "/api/audit": {"admin"},
}

# Panel of the patient page (its heading id) -> the roles that see it.
PANELS = {
    "tl-h": {"clinician", "nurse"},  # clinical timeline
    "readings-h": {"clinician", "nurse"},  # BP and other reading charts
    "consent-h": {"clinician", "nurse", "coordinator"},
    "gaps-h": {"clinician", "nurse", "coordinator"},
    "prog-h": {"clinician", "nurse", "coordinator"},
}

# (item kind, action) -> the roles allowed, through the API and the console alike.
ACTIONS = {
    ("alert", "acknowledge"): {"clinician", "nurse"},
    ("alert", "resolve"): {"clinician", "nurse"},
    ("alert", "assign"): {"clinician", "nurse"},
    ("task", "acknowledge"): {"clinician", "nurse", "coordinator"},
    ("task", "resolve"): {"clinician", "nurse", "coordinator"},
    ("task", "assign"): {"clinician", "nurse", "coordinator"},
}

_rules = count(1)


def _new_item(rt: Runtime, kind: str) -> int:
    """A fresh urgent alert or task for patient A (each its own rule, so each its own item)."""
    rule = f"matrix-{kind}-{next(_rules)}"
    with rt.transaction() as session:
        if kind == "task":
            raised = create_task(
                session,
                patient_id=PATIENT_A,
                rule_id=rule,
                title="Call the patient",
                summary="No answer to three reminders",
                severity=Severity.URGENT,
                clock=rt.clock,
                actor="test",
            )
        else:
            finding = Finding(
                rule_id=rule,
                title="Blood pressure crisis",
                severity=Severity.URGENT,
                sla_hours=1,
                patient_id=PATIENT_A,
                summary="190/120",
                values={"systolic_bp": 190},
                evidence=("190/120 at 08:00",),
                program=None,
                team=None,
                source="test",
            )
            raised = raise_finding(session, finding, clock=rt.clock, actor="test")
    return raised.item_id


@pytest.fixture
def site(rt: Runtime, tmp_path: Path) -> Runtime:
    load(rt, tmp_path)
    with rt.transaction() as session:
        record_event(
            session,
            kind=EventKind.READING_RECEIVED,
            clock=rt.clock,
            actor="test",
            patient_id=PATIENT_A,
            payload={"values": {"systolic_bp": 150, "diastolic_bp": 95}},
        )
    return rt


def test_role_by_page(site: Runtime, api_client: Any) -> None:
    for role in STAFF:
        client = api_client(role)
        for page, allowed in PAGES.items():
            status = client.get(page).status_code
            assert status == (200 if role in allowed else 403), (role, page, status)
        for path, allowed in API_READS.items():
            status = client.get(path).status_code
            assert status == (200 if role in allowed else 403), (role, path, status)


def test_role_by_patient_panel(site: Runtime, api_client: Any) -> None:
    for role in ("clinician", "nurse", "coordinator"):
        html = api_client(role).get(f"/console/patients/{PATIENT_A}").text
        for panel, allowed in PANELS.items():
            assert (f'id="{panel}"' in html) == (role in allowed), (role, panel)


def test_api_hides_the_clinical_timeline_the_console_hides(site: Runtime, api_client: Any) -> None:
    for role in ("clinician", "nurse", "coordinator"):
        record = api_client(role).get(f"/api/patients/{PATIENT_A}").json()
        assert bool(record["timeline"]) == (role in PANELS["tl-h"]), role


def _api(client: Any, item_id: int, action: str) -> int:
    body = {"acknowledge": None, "resolve": {"outcome": "done"}, "assign": {"assignee": "nobody"}}
    response = client.post(f"/api/alerts/{item_id}/{action}", json=body[action])
    return int(response.status_code)


def _console(client: Any, item_id: int, action: str) -> int:
    data = {"outcome": "done"} if action == "resolve" else {}
    response = client.post(
        f"/console/worklist/{item_id}/{action}", data=data, follow_redirects=False
    )
    return int(response.status_code)


def test_role_by_action_agrees_between_api_and_console(site: Runtime, api_client: Any) -> None:
    for role in STAFF:
        client = api_client(role)
        for (kind, action), allowed in ACTIONS.items():
            expected = role in allowed
            status = _api(client, _new_item(site, kind), action)
            assert status == (200 if expected else 403), (role, kind, action, status)
            if action == "assign":
                continue  # the console offers no reassignment
            status = _console(client, _new_item(site, kind), action)
            assert status == (303 if expected else 403), (role, kind, action, status)


def test_the_worklist_offers_buttons_exactly_where_actions_are_allowed(
    site: Runtime, api_client: Any
) -> None:
    alert, task = _new_item(site, "alert"), _new_item(site, "task")
    for role in ("clinician", "nurse", "coordinator"):
        html = api_client(role).get("/console/worklist").text
        for kind, item_id in (("alert", alert), ("task", task)):
            offered = f"/console/worklist/{item_id}/resolve" in html
            assert offered == (role in ACTIONS[(kind, "resolve")]), (role, kind)


# Plan change on patient A -> the roles allowed: nurses propose, clinicians also decide.
PLAN_ACTIONS = {
    "propose": {"clinician", "nurse"},
    "approve": {"clinician"},
    "reject": {"clinician"},
}
_PROPOSER = Principal(actor="test:dr-proposer", role=Role.CLINICIAN, source="test")
_DECIDER = Principal(actor="test:dr-decider", role=Role.CLINICIAN, source="test")


def _pending_proposal(rt: Runtime, *, propose: bool = True) -> int:
    """Decide whatever is pending for patient A (one of a kind at a time), then propose anew
    as another clinician, so every role meets a fresh proposal it did not make itself."""
    with rt.transaction() as session:
        pending = session.scalars(
            select(PlanAdjustment.id).where(
                PlanAdjustment.patient_id == PATIENT_A,
                PlanAdjustment.status == PlanStatus.PROPOSED,
            )
        ).all()
        for adjustment_id in pending:
            reject(session, adjustment_id, clock=rt.clock, principal=_DECIDER, note="matrix")
        if not propose:
            return 0
        row = propose_change(
            session,
            patient_id=PATIENT_A,
            kind="checkin_frequency",
            reason="Check in twice a week while on the new dose",
            clock=rt.clock,
            principal=_PROPOSER,
        )
        return row.id


def _plan_api(client: Any, site: Runtime, action: str) -> int:
    if action == "propose":
        _pending_proposal(site, propose=False)
        body = {"kind": "checkin_frequency", "reason": "Check in twice a week"}
        response = client.post(f"/api/patients/{PATIENT_A}/plan-adjustments", json=body)
        return 201 if response.status_code == 201 else int(response.status_code)
    adjustment_id = _pending_proposal(site)
    return int(client.post(f"/api/plan-adjustments/{adjustment_id}/{action}").status_code)


def _plan_console(client: Any, site: Runtime, action: str) -> int:
    if action == "propose":
        _pending_proposal(site, propose=False)
        data = {"kind": "checkin_frequency", "reason": "Check in twice a week"}
        path = f"/console/patients/{PATIENT_A}/plan-adjustments"
    else:
        data, path = {}, f"/console/plan-adjustments/{_pending_proposal(site)}/{action}"
    return int(client.post(path, data=data, follow_redirects=False).status_code)


def test_role_by_plan_change_agrees_between_api_and_console(site: Runtime, api_client: Any) -> None:
    for role in STAFF:
        client = api_client(role)
        for action, allowed in PLAN_ACTIONS.items():
            api_ok = 201 if action == "propose" else 200
            status = _plan_api(client, site, action)
            assert status == (api_ok if role in allowed else 403), (role, action, status)
            status = _plan_console(client, site, action)
            assert status == (303 if role in allowed else 403), (role, action, status)


def test_the_patient_page_offers_plan_changes_exactly_where_allowed(
    site: Runtime, api_client: Any
) -> None:
    adjustment_id = _pending_proposal(site)
    for role in ("clinician", "nurse", "coordinator"):
        html = api_client(role).get(f"/console/patients/{PATIENT_A}").text
        proposes = f'action="/console/patients/{PATIENT_A}/plan-adjustments"' in html
        approves = f"/console/plan-adjustments/{adjustment_id}/approve" in html
        assert proposes == (role in PLAN_ACTIONS["propose"]), role
        assert approves == (role in PLAN_ACTIONS["approve"]), role
