"""Prescribe a digital tool from the patient view (``careloop.digitaltools``).

The panel lists the tools that serve the patient's needs (their segments) first, then the
rest, with what is already prescribed and how many readings each sent. Prescribing is a
clinical act (``plans:approve``): it writes a CarePlan activity and sends the patient the
tool's link; the page then says what happened.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.digitaltools.catalogue import load_tools
from careloop.digitaltools.service import prescribe, tool_usage
from careloop.programs.segments.service import segment_membership
from careloop.web.console.pages import CatalogueId, after_post
from careloop.web.deps import PatientReach, SettingsDep, reached

router = APIRouter(include_in_schema=False)

RESULTS = {
    "sent": "Prescribed: the tool is on the care plan and its link was sent to the patient.",
    "task": "Prescribed: the link could not be sent, so a task to give it was added.",
}


def tools_context(
    session: Session, *, patient_id: str, clock: Clock, result: str | None
) -> dict[str, Any]:
    """The panel's data: tools for the patient's needs first, and what is prescribed."""
    catalogue = load_tools()
    needs = segment_membership(session, patient_ids=[patient_id], now=clock.now()).get(
        patient_id, set()
    )
    suggested = catalogue.for_needs(needs)
    others = [t for t in catalogue.tools if t not in suggested]
    return {
        "tools_suggested": suggested,
        "tools_others": others,
        "tools_prescribed": tool_usage(session, catalogue=catalogue, patient_id=patient_id),
        "tools_result": RESULTS.get(result or ""),
    }


@router.post("/console/patients/{patient_id}/tools")
def prescribe_tool(
    request: Request,
    settings: SettingsDep,
    reach: Annotated[PatientReach, reached("plans:approve")],
    tool: CatalogueId,
) -> Response:
    done = prescribe(
        reach.session,
        catalogue=load_tools(),
        patient_id=reach.patient_id,
        tool_id=tool,
        clock=reach.clock,
        principal=reach.principal,
        settings=settings,
    )
    outcome = "sent" if done.message_queued else "task"
    return after_post(request, f"/console/patients/{reach.patient_id}?tool={outcome}#tools-h")
