"""Invite a patient to the portal from the console: enrol the number or e-mail on the record
and send the sign-in code on the chosen channel (before, only the API could do it).

Both steps are the portal API's own endpoint functions, so the rules (staff only, a contact
point that is on the record, a text only to a number that can take one, one account per
contact, the per-contact code limit) and the audit stay in one place. The page then says
what happened, never the contact point itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from careloop.errors import Conflict, InvalidInput
from careloop.records.contacts_phone import PHONE_SYSTEMS, textable
from careloop.records.schemas import ContactPoint
from careloop.records.service import get_patient_record
from careloop.web.api import portal as portal_api
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach, SigningKeyDep, reached

router = APIRouter(include_in_schema=False)

INVITE_CHANNELS = ("sms", "email")
RESULTS = {
    "sent": "Invitation sent: the patient received a sign-in code and the portal address.",
    "no-address": "The record has no contact point for that channel.",
    "no-mobile": "The record has no mobile number: texts need a mobile number (a home or work"
    " line may be a landline). Add their mobile to the record, or invite them by e-mail.",
    "taken": "That contact point already signs in to another portal account.",
}


def _address(contact_points: list[ContactPoint], channel: str) -> str | None:
    """The record's address for ``channel``: for a text, a number the records domain's rule
    lets a text reach (a mobile first), never a home line; for e-mail, the first address."""
    if channel == "sms":
        phones = [cp for cp in contact_points if textable(cp.model_dump())]
        phones.sort(key=lambda cp: (0 if cp.use == "mobile" else 1, cp.rank or 99))
        return str(phones[0].value) if phones else None
    return next((str(cp.value) for cp in contact_points if cp.system == "email" and cp.value), None)


def invite_channels(contact_points: list[ContactPoint]) -> list[str]:
    """Channels the record has an address for (what the invite form offers)."""
    return [ch for ch in INVITE_CHANNELS if _address(contact_points, ch) is not None]


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
    value = _address(list(record.contact_points), channel)
    if value is None:
        phones = any(cp.system in PHONE_SYSTEMS and cp.value for cp in record.contact_points)
        return after_post(
            request, back.format("no-mobile" if channel == "sms" and phones else "no-address")
        )
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
