"""Invite a patient to the portal from the console: enrol the number or e-mail on the record
and send the sign-in code on the chosen channel (before, only the API could do it).

Both steps are the portal API's own endpoint functions, so the rules (staff only, a contact
point that is on the record, one account per contact, the per-contact code limit) and the
audit stay in one place. The page then says what happened, never the contact point itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from careloop.errors import Conflict, InvalidInput
from careloop.records.service import get_patient_record
from careloop.web.api import portal as portal_api
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach, SigningKeyDep, reached

router = APIRouter(include_in_schema=False)

INVITE_CHANNELS = {"sms": ("phone", "sms"), "email": ("email",)}
RESULTS = {
    "sent": "Invitation sent: the patient received a sign-in code and the portal address.",
    "no-address": "The record has no contact point for that channel.",
    "taken": "That contact point already signs in to another portal account.",
}


def invite_channels(contact_points: list[object]) -> list[str]:
    """Channels the record has an address for (what the invite form offers)."""
    systems = {getattr(cp, "system", None) for cp in contact_points if getattr(cp, "value", None)}
    return [ch for ch, wanted in INVITE_CHANNELS.items() if systems & set(wanted)]


@router.post("/console/patients/{patient_id}/portal-invite")
def invite(
    request: Request,
    key: SigningKeyDep,
    reach: Annotated[PatientReach, reached("patients:write")],
    channel: Annotated[str, Form(pattern="^(sms|email)$")] = "sms",
) -> Response:
    session, clock, patient_id = reach.session, reach.clock, reach.patient_id
    back = f"/console/patients/{patient_id}?invite={{}}#portal-h"
    record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    value = next(
        (
            str(cp.value)
            for cp in record.contact_points
            if cp.system in INVITE_CHANNELS[channel] and cp.value
        ),
        None,
    )
    if value is None:
        return after_post(request, back.format("no-address"))
    system = "sms" if channel == "sms" else "email"
    try:
        portal_api.enrol_contact(portal_api.EnrolRequest(system=system, value=value), key, reach)
    except Conflict:
        return after_post(request, back.format("taken"))
    except InvalidInput:
        return after_post(request, back.format("no-address"))
    background = BackgroundTasks()
    portal_api.portal_request_code(
        portal_api.CodeRequest(system=system, value=value), request, background, session, clock, key
    )
    response = after_post(request, back.format("sent"))
    response.background = background  # the code leaves after the commit
    return response
