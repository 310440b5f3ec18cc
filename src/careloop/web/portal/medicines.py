"""The portal's medicines page: today's doses, answered taken / later / skipped, and pauses.

The same services as a text reply (``medications.service``): an answer here is a dose
confirmation the reminder time is learned from, "later" snoozes that dose's reminder, and a
pause stops a medicine's reminders until a day the patient picks (a trip, a hospital stay).
The patient pressed one dose's button, so the answer is recorded for that dose, not for the
one nearest in time.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from careloop.audit import AuditAction
from careloop.errors import InvalidInput
from careloop.medications.service import ANSWERS, confirm, patient_of, set_status, slot_states
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach
from careloop.web.portal.page import PortalPage, form_text, portal_page, posted_for

router = APIRouter(include_in_schema=False)

MedicinesPage = Annotated[
    PortalPage, Depends(portal_page("patients:read", audit_as="medication-plan"))
]
ACTIONS = (*ANSWERS, "pause", "resume")


@router.get("/portal/medicines", response_class=HTMLResponse)
def medicines_page(page: MedicinesPage, done: str = "") -> HTMLResponse:
    now = page.clock.now()
    states = slot_states(page.session, patient_id=page.patient_id, now=now)
    zone = ZoneInfo(patient_of(page.session, page.patient_id).timezone)
    doses = [
        {
            "key": s.slot.medication_key,
            "medication": s.slot.medication,
            "slot": s.slot.slot,
            "next": s.next_at,
            "status": s.slot.status,
            "paused_until": s.slot.paused_until.astimezone(zone).date().isoformat()
            if s.slot.paused_until
            else "",
            "answered": s.answered_today,
            "snoozed": s.slot.snoozed_until is not None and s.slot.snoozed_until > now,
        }
        for s in states
    ]
    return page.show(
        "portal/medicines.html",
        "medicines",
        doses=doses,
        today=now.astimezone(zone).date().isoformat(),
        done=done if done in ACTIONS else "",
    )


def _pause_until(value: str, zone: ZoneInfo, now: datetime) -> datetime:
    """Midnight at the start of the day the reminders come back, in the patient's zone."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            "give the day your reminders should start again", field="until"
        ) from None
    until = datetime.combine(day, time(0), tzinfo=zone)
    if until <= now:
        raise InvalidInput("the day must be after today", field="until")
    return until


@router.post("/portal/medicines")
async def answer_dose(
    request: Request, reach: Annotated[PatientReach, posted_for("checkins:write")]
) -> Response:
    """One dose answered (taken / later / skipped) or one medicine paused or resumed."""
    session, clock, principal = reach.session, reach.clock, reach.principal
    patient_id = reach.patient_id
    text = await form_text(request)
    action, key, now = text("action"), text("medication") or None, clock.now()
    if action not in ACTIONS:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if action in ANSWERS:
        confirm(
            session,
            patient_id=patient_id,
            answer=action,
            at=now,
            channel="portal",
            actor=principal.actor,
            now=now,
            medication_key=key,
            slot=text("slot") or None,
            source="portal",
        )
        resource = "dose-confirmation"
    else:
        zone = ZoneInfo(patient_of(session, patient_id).timezone)
        until = _pause_until(text("until"), zone, now) if action == "pause" else None
        status = "paused" if action == "pause" else "active"
        set_status(
            session, patient_id=patient_id, status=status, now=now, medication_key=key, until=until
        )
        resource = "medication-reminders"
    reach.audit(AuditAction.UPDATE, resource, detail={"action": action})
    return after_post(request, f"/portal/medicines?patient={patient_id}&done={action}")
