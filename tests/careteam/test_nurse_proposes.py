"""A nurse proposes a plan change and a clinician approves it, never their own: the API
refuses with a 403 naming what is missing, and the console shows who proposed and who
approved, with the approve button only for a clinician who did not propose it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.models import AuditEvent, User
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import add_patients

PID = "np-1"
CHANGE = {"kind": "reminder_plan", "reason": "Move the evening reminder to 20:00 (works late)"}


def _name(rt: Runtime, name: str) -> str:
    """Name the user signed in last (``api_client`` creates one per client); its actor."""
    with rt.transaction() as session:
        user = session.query(User).order_by(User.id.desc()).first()
        assert user is not None
        user.display_name = name
        return f"user:{user.id}"


def test_a_nurse_proposes_and_only_another_clinician_approves(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, PID)
    coordinator = api_client("coordinator")
    nurse = api_client("nurse")
    nurse_actor = _name(rt, "Nora Nurse, RN")

    refused = coordinator.post(f"/api/patients/{PID}/plan-adjustments", json=CHANGE)
    proposed = nurse.post(f"/api/patients/{PID}/plan-adjustments", json=CHANGE)
    wrong_kind = nurse.post(
        f"/api/patients/{PID}/plan-adjustments", json={**CHANGE, "kind": "chemo_dose"}
    )

    assert (refused.status_code, refused.json()["error"]) == (
        403,
        "role coordinator may not plans:propose",
    )
    assert (wrong_kind.status_code, wrong_kind.json()["field"]) == (422, "kind")
    assert proposed.status_code == 201, proposed.text
    plan = proposed.json()
    assert (plan["status"], plan["proposed_by"]) == ("proposed", nurse_actor)
    with rt.transaction() as session:
        audited = session.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.patient_id).where(
                AuditEvent.resource == "plan-adjustment:proposed"
            )
        ).all()
    assert [tuple(row) for row in audited] == [(nurse_actor, "create", PID)]
    self_approved = nurse.post(f"/api/plan-adjustments/{plan['id']}/approve")
    assert (self_approved.status_code, self_approved.json()["error"]) == (
        403,
        "role nurse may not plans:approve",
    )
    doctor = api_client("clinician")
    doctor_actor = _name(rt, "Dr. Ada Oncologist")
    approved = doctor.post(f"/api/plan-adjustments/{plan['id']}/approve")
    assert approved.status_code == 200, approved.text
    assert (approved.json()["proposed_by"], approved.json()["decided_by"]) == (
        nurse_actor,
        doctor_actor,
    )
    page = nurse.get(f"/console/patients/{PID}")
    [line] = re.findall(r'data-testid="plan-changes"><li>(.*?)</li>', page.text, re.S)
    assert "proposed by Nora Nurse, RN · <strong>approved</strong> by Dr. Ada Oncologist" in line


def test_a_clinician_never_approves_their_own_proposal(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, PID)
    doctor = api_client("clinician")
    _name(rt, "Dr. Ada Oncologist")
    plan = doctor.post(f"/api/patients/{PID}/plan-adjustments", json=CHANGE).json()

    own = doctor.post(f"/api/plan-adjustments/{plan['id']}/approve")
    card = doctor.get("/console/worklist").text
    other = api_client("clinician")
    other_card = other.get("/console/worklist").text

    assert (own.status_code, own.json()["error"]) == (
        403,
        "you proposed this plan change: another clinician (plans:approve) must approve it",
    )
    assert "You proposed this change: another clinician approves it." in card
    assert f"/console/plan-adjustments/{plan['id']}/approve" not in card
    assert "Proposed by Dr. Ada Oncologist" in other_card
    assert f"/console/plan-adjustments/{plan['id']}/approve" in other_card


def test_a_nurse_proposes_from_the_patient_page(
    rt: Runtime, tmp_path: Path, api_client: Any
) -> None:
    add_patients(rt, tmp_path, PID)
    nurse = api_client("nurse")
    form = nurse.get(f"/console/patients/{PID}").text

    sent = nurse.post(
        f"/console/patients/{PID}/plan-adjustments",
        data={"kind": "symptom_diary", "reason": "Ask for the mouth-sore diary daily, not weekly"},
        follow_redirects=False,
    )
    empty = nurse.post(
        f"/console/patients/{PID}/plan-adjustments",
        data={"kind": "symptom_diary", "reason": " "},
        follow_redirects=False,
    )
    coordinator_page = api_client("coordinator").get(f"/console/patients/{PID}").text

    assert 'aria-label="Propose a plan change"' in form
    assert sent.headers["location"] == f"/console/patients/{PID}?proposal=proposed#plan-h"
    assert empty.headers["location"] == f"/console/patients/{PID}?proposal=reason#plan-h"
    assert "symptom diary · proposed by" in coordinator_page
    assert 'aria-label="Propose a plan change"' not in coordinator_page
