"""The patient view's Messages panel: the conversation, and sending a care-team message.

Reading and sending are outreach's own services (:mod:`careloop.outreach.messages`); the
message is queued in the outbox and leaves with the normal worker, so consent, pacing and
retries apply as to any reminder. A refused message returns to the page with a fixed
explanation (never the patient's data) instead of a JSON error.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.errors import Conflict, InvalidInput
from careloop.governance.consent import ConsentDecision, consent_decision
from careloop.outreach.messages import STAFF_CHANNELS, conversation, queue_staff_message
from careloop.outreach.staff_messages import refusal_words
from careloop.personalize.contact_budget import RemovalReason
from careloop.personalize.service import get_profile
from careloop.records.service import get_patient
from careloop.web.console.pages import after_post
from careloop.web.console.words import queued_words
from careloop.web.deps import PatientReach, reached

router = APIRouter(include_in_schema=False)

ERRORS = {
    "body": "Write a message of at most 1,000 characters.",
    "channel": "The patient has no address on file for that channel.",
    "form": "The form was out of date; reload the page and send again.",
    "consent": "The patient has not agreed to messages on that channel (or on any we can reach).",
}


MESSAGES_READ = "patient-messages"
"""The audit resource of the panel's read: message content is audited on its own, by the
page showing the panel (with its other reads)."""


def messaging_context(reach: PatientReach, *, error: str | None) -> dict[str, Any]:
    """What the panel shows; the caller audits the read as :data:`MESSAGES_READ`."""
    items = conversation(reach.session, patient_id=reach.patient_id, limit=50)
    patient = get_patient(reach.session, reach.patient_id)
    quiet = get_profile(reach.session, patient_id=reach.patient_id).stated.quiet_hours
    now = reach.clock.now()
    # What the worker will do with a message still queued: quiet hours move it, and a
    # consent withdrawn since it was queued (a STOP) drops it at dispatch.
    queued: dict[int, str] = {}
    decided: dict[tuple[str, str], ConsentDecision] = {}
    for i in items:
        words = queued_words(i, now=now, zone=patient.timezone, quiet=quiet)
        if words is None:
            continue
        if i.purpose:
            key = (i.purpose, i.channel)
            if key not in decided:
                decided[key] = consent_decision(
                    reach.session,
                    patient_id=reach.patient_id,
                    purpose=i.purpose,
                    channel=i.channel,
                    now=now,
                )
            if not decided[key].allowed:
                words = f"Will not go out: {decided[key].reason}"
        queued[i.id] = words
    return {
        "conversation": items,
        "queued": queued,
        "may_send": reach.principal.can("messages:send"),
        "message_channels": STAFF_CHANNELS,
        "message_error": _error_words(reach, error),
        "message_key": uuid.uuid4().hex,
    }


def _error_words(reach: PatientReach, error: str | None) -> str | None:
    """``channel-sms`` says what is on file instead of "no address for that channel" (a home
    phone is on file, and a text goes only to a mobile), in ``careloop send``'s words."""
    channel = error.removeprefix("channel-") if error and error.startswith("channel-") else None
    if channel not in STAFF_CHANNELS:
        return ERRORS.get(error or "")
    points = [dict(p) for p in get_patient(reach.session, reach.patient_id).contact_points or []]
    words = refusal_words(channel, {RemovalReason.NO_CONTACT_POINT}, points=points)
    return words[0].upper() + words[1:]


@router.post("/console/patients/{patient_id}/messages")
def send_message(
    request: Request,
    reach: Annotated[PatientReach, reached("messages:send")],
    body: Annotated[str, Form(max_length=4000)] = "",
    channel: Annotated[str, Form(max_length=16)] = "",
    idempotency_key: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    page = f"/console/patients/{reach.patient_id}"
    try:
        row = queue_staff_message(
            reach.session,
            patient_id=reach.patient_id,
            body=body,
            channel=channel or None,
            clock=reach.clock,
            actor=reach.principal.actor,
            idempotency_key=idempotency_key or None,
        )
    except InvalidInput as exc:
        code = {"body": "body", "idempotency_key": "form"}.get(exc.field or "", "channel")
        if code == "channel" and channel in STAFF_CHANNELS:
            code = f"channel-{channel}"
        return after_post(request, f"{page}?message_error={code}")
    except Conflict:
        return after_post(request, f"{page}?message_error=consent")
    Auditor(reach.session, reach.clock, reach.principal, Purpose.TREATMENT)(
        AuditAction.SEND,
        "patient-message",
        [reach.patient_id],
        detail={"outbox_id": row.id, "channel": row.channel},
    )
    return after_post(request, page)
