"""``?approved=<adjustment>`` confirms a plan change only to the one who approved it, and on
a patient page only for that patient's change.

The notice says how the patient hears of the change (channel and time). Any id typed or
pasted into the address showed it on the worklist, and to a colleague who never approved
anything, as if they just had.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.careteam import plans
from careloop.clock import FrozenClock
from careloop.feedback.ruleset import AdjustmentKind, Proposal
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, patient

NOTICE = 'data-testid="plan-approved"'


def _proposal(rt: Runtime, patient_id: str) -> int:
    with rt.transaction() as session:
        row = plans.propose(
            session,
            patient_id=patient_id,
            rule_id="bp-not-improving",
            proposal=Proposal(kind=AdjustmentKind.FOLLOW_UP_VISIT, reason="BP not improving"),
            item_id=None,
            clock=rt.clock,
            actor="system:test",
        )
        assert row is not None
        return row.id


def test_the_approval_notice_is_the_approvers_own_and_the_patients_own(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    import_resources(rt, tmp_path, [patient("p-001"), patient("p-002")])
    first, second = _proposal(rt, "p-001"), _proposal(rt, "p-002")
    approver, colleague = api_client("clinician"), api_client("clinician")
    for adjustment in (first, second):
        done = approver.post(
            f"/console/plan-adjustments/{adjustment}/approve", follow_redirects=False
        )
        assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/console/worklist?approved={second}"

    def shown(client: Any, url: str) -> bool:
        page = client.get(url)
        assert page.status_code == 200, page.text
        return NOTICE in page.text

    # The approver's own confirmation, where it was approved.
    assert shown(approver, f"/console/worklist?approved={second}")
    assert shown(approver, f"/console/patients/p-001?approved={first}")
    # Another patient's change on this patient's page: nothing.
    assert not shown(approver, f"/console/patients/p-002?approved={first}")
    # A colleague with the same link approved nothing.
    assert not shown(colleague, f"/console/worklist?approved={second}")
    assert not shown(colleague, f"/console/patients/p-001?approved={first}")
    # An id that is no approved change.
    assert not shown(approver, "/console/worklist?approved=999999")


def test_the_patient_page_names_who_approved_a_plan_change_and_when(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    """Found walking the demo: "approved by user:1" (an account id, not a person), next to
    the time the change was proposed, as if it had been approved then."""
    import_resources(rt, tmp_path, [patient("p-001")])
    adjustment = _proposal(rt, "p-001")
    approver = api_client("clinician")
    clock.advance(timedelta(hours=3))
    approver.post(f"/console/plan-adjustments/{adjustment}/approve", follow_redirects=False)

    page = approver.get("/console/patients/p-001").text
    (line,) = re.findall(r'<ul data-testid="plan-changes"><li>(.*?)</li>', page, re.S)

    assert "user:" not in line
    assert re.search(r"approved</strong> by clinician-\d+ on 2026-03-02 12:00 EST", line)
