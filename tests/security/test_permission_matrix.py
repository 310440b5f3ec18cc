"""Role x page x action: the console shows and does exactly what the API allows (issue 21, item 2).

The expectations are written out here, not derived from ``security.roles``, so a change to
the permission code that widens access fails this test.
"""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

import pytest

from careloop.careteam.alerts import create_task, raise_finding
from careloop.events import EventKind, record_event
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity
from careloop.runtime import Runtime
from tests.governance.conftest import PATIENT_A, load

STAFF = ("admin", "clinician", "coordinator", "analyst")

# Console page -> the roles that get it (everyone else: 403 page).
PAGES = {
    "/console/worklist": {"clinician", "coordinator"},
    "/console/patients": {"clinician", "coordinator"},
    f"/console/patients/{PATIENT_A}": {"clinician", "coordinator"},
    "/console/programs": {"admin", "clinician", "coordinator", "analyst"},
    "/console/content": {"admin", "clinician", "coordinator", "analyst"},
    "/console/jobs": {"admin"},
    "/console/fhir-deliveries": {"admin"},
    "/console/appointments": {"clinician", "coordinator"},
}

# Panel of the patient page (its heading id) -> the roles that see it.
PANELS = {
    "tl-h": {"clinician"},  # clinical timeline
    "readings-h": {"clinician"},  # BP and other reading charts
    "consent-h": {"clinician", "coordinator"},
    "gaps-h": {"clinician", "coordinator"},
    "prog-h": {"clinician", "coordinator"},
}

# (item kind, action) -> the roles allowed, through the API and the console alike.
ACTIONS = {
    ("alert", "acknowledge"): {"clinician"},
    ("alert", "resolve"): {"clinician"},
    ("alert", "assign"): {"clinician"},
    ("task", "acknowledge"): {"clinician", "coordinator"},
    ("task", "resolve"): {"clinician", "coordinator"},
    ("task", "assign"): {"clinician", "coordinator"},
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


def test_role_by_patient_panel(site: Runtime, api_client: Any) -> None:
    for role in ("clinician", "coordinator"):
        html = api_client(role).get(f"/console/patients/{PATIENT_A}").text
        for panel, allowed in PANELS.items():
            assert (f'id="{panel}"' in html) == (role in allowed), (role, panel)


def test_api_hides_the_clinical_timeline_the_console_hides(site: Runtime, api_client: Any) -> None:
    for role in ("clinician", "coordinator"):
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
    for role in ("clinician", "coordinator"):
        html = api_client(role).get("/console/worklist").text
        for kind, item_id in (("alert", alert), ("task", task)):
            offered = f"/console/worklist/{item_id}/resolve" in html
            assert offered == (role in ACTIONS[(kind, "resolve")]), (role, kind)
