"""Propose a plan change from a patient's page (nurses and clinicians); a clinician other than
the proposer approves it on the worklist card it lands on.

The form calls the service the API's endpoint calls (``careteam.proposals``), so the rules
(who may propose, which kinds, one pending per kind, the audit) stay in one place; the page
then says what happened.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from careloop.careteam.proposals import STAFF_KINDS, propose_change
from careloop.errors import Conflict, InvalidInput
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach, reached

router = APIRouter(include_in_schema=False)

KIND_WORDS = {
    "reminder_plan": "Reminder plan (e.g. the time of day of a reminder)",
    "checkin_frequency": "Check-in frequency",
    "symptom_diary": "Symptom-diary cadence",
    "follow_up_visit": "Follow-up visit",
}
RESULTS = {
    "proposed": "Proposed: the plan change waits on the worklist for a clinician's decision.",
    "kind": "Choose what to change.",
    "reason": "Say what to change and why (at most 2,000 characters).",
    "pending": "A change of that kind already awaits a clinician's decision.",
}


def propose_context(reach: PatientReach, *, result: str | None) -> dict[str, Any]:
    """The form's choices and the last proposal's result, for a caller who may propose."""
    if not reach.principal.can("plans:propose"):
        return {}
    return {
        "propose_kinds": [(str(k), KIND_WORDS[str(k)]) for k in STAFF_KINDS],
        "propose_result": RESULTS.get(result or ""),
    }


@router.post("/console/patients/{patient_id}/plan-adjustments")
def propose(
    request: Request,
    reach: Annotated[PatientReach, reached("plans:propose")],
    kind: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    page = f"/console/patients/{reach.patient_id}"
    try:
        propose_change(
            reach.session,
            patient_id=reach.patient_id,
            kind=kind,
            reason=reason,
            clock=reach.clock,
            principal=reach.principal,
        )
    except InvalidInput as exc:
        return after_post(request, f"{page}?proposal={exc.field or 'reason'}#plan-h")
    except Conflict:
        return after_post(request, f"{page}?proposal=pending#plan-h")
    return after_post(request, f"{page}?proposal=proposed#plan-h")
