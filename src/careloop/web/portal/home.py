"""The portal's home (care gaps, upcoming appointments) and messages (read and reply)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from careloop.access.booking import live_bookings
from careloop.access.directory import visit_labels
from careloop.audit import AuditAction
from careloop.careteam import plans
from careloop.conversations.portal_replies import receive_portal_reply
from careloop.errors import InvalidInput
from careloop.governance.proxy import proxy_caregiver_id
from careloop.outreach import messages as outreach_messages
from careloop.outreach.messages import ConversationItem
from careloop.outreach.portal_inbox import mark_read_for_patient
from careloop.outreach.states import OutboxState
from careloop.personalize.service import get_profile
from careloop.records.service import get_patient, timeline
from careloop.security.roles import Role
from careloop.web.api.webhooks import InboundDep
from careloop.web.console import patient_context
from careloop.web.console.pages import after_post
from careloop.web.console.words import goes_out_at
from careloop.web.deps import PatientReach
from careloop.web.portal.checkin import todays_checkin
from careloop.web.portal.i18n import has_text, translator
from careloop.web.portal.inbox_words import readable
from careloop.web.portal.page import PortalPage, portal_page, posted_for
from careloop.web.portal.reply_words import with_choices

router = APIRouter(include_in_schema=False)


# What the patient is told of a message out: sent, or still waiting for its time.
_SENT = frozenset({OutboxState.SENT, OutboxState.DELIVERED, OutboxState.IN_DOUBT})


def inbox_items(items: list[ConversationItem]) -> list[ConversationItem]:
    """The conversation as the patient may see it: a message that will never leave (dead) is
    not theirs, and a portal message appears only once it is sent (as the portal inbox and
    its unread count have it); a text, e-mail or call still queued is listed as scheduled."""
    return [
        item
        for item in items
        if item.direction == "in"
        or (item.state != OutboxState.DEAD and (item.channel != "portal" or item.state in _SENT))
    ]


def _gap_text(language: str, program: str, reason: str) -> str:
    """A care gap in the patient's words and language (``gap.<program>``); the program's own
    reason (English, clinical) only when no patient wording exists."""
    key = f"gap.{program}"
    return translator(language)(key) if has_text(language, key) else reason


HomePage = Annotated[PortalPage, Depends(portal_page("patients:read", audit_as="portal-home"))]
MessagesPage = Annotated[
    PortalPage, Depends(portal_page("messages:read", audit_as="portal-messages"))
]


@router.get("/portal", response_class=HTMLResponse)
def home(page: HomePage) -> HTMLResponse:
    session, patient_id = page.session, page.patient_id
    since = page.clock.now() - timedelta(days=1)
    upcoming = [
        item
        for item in timeline(session, patient_id=patient_id, types=["Appointment"], limit=20)
        if item.date is None or item.date >= since
    ]
    # A visit booked through careloop is named as the visits page names it (service · place).
    booked = {b.appointment_id: b for b in live_bookings(session, patient_id=patient_id)}
    visits = [(a.id, booked[a.id].slot_id, booked[a.id].mode) for a in upcoming if a.id in booked]
    return page.show(
        "portal/home.html",
        "home",
        # Only what is still due: a closed gap's words say "is due", and "— done" after them
        # read as a contradiction (issue 17); what was done is the record's, not this list's.
        gaps=[
            _gap_text(page.language, gap.program, gap.reason)
            for gap in patient_context.care_gaps(session, patient_id=patient_id)
            if not gap.closed
        ],
        appointments=upcoming[:5],
        where=visit_labels(session, visits, language=page.language),
        video={key for key, _, mode in visits if mode == "telehealth"},
        checkin=todays_checkin(page),
        # The plan-change message sends the patient here to read the change: say what changed.
        plan_changes=[
            (row.decided_at, f"plan_kind.{row.kind}")
            for row in plans.list_adjustments(
                session, status=str(plans.PlanStatus.APPROVED), patient_id=patient_id, limit=5
            )
        ],
    )


def _when_sent(page: PortalPage, items: list[ConversationItem]) -> list[ConversationItem]:
    """Messages still to go dated when they will really leave: quiet hours hold a text typed
    in the patient's night until their morning, as the worker holds it (and the console says)."""
    if not any(i.direction == "out" and i.state not in _SENT for i in items):
        return items
    zone = get_patient(page.session, page.patient_id).timezone
    quiet = get_profile(page.session, patient_id=page.patient_id).stated.quiet_hours
    now = page.clock.now()
    return [
        replace(item, at=goes_out_at(item.at, now=now, zone=zone, quiet=quiet))
        if item.direction == "out"
        and item.state not in _SENT
        and item.recipient_kind == "patient"
        and not item.transactional
        else item
        for item in items
    ]


@router.get("/portal/messages", response_class=HTMLResponse)
def messages(page: MessagesPage, sent: int = 0, error: str | None = None) -> HTMLResponse:
    session, patient_id = page.session, page.patient_id
    if page.principal.role == Role.PATIENT:  # the patient opening the page reads their inbox
        mark_read_for_patient(session, clock=page.clock, patient_id=patient_id)
    items = inbox_items(outreach_messages.conversation(session, patient_id=patient_id, limit=100))
    return page.show(
        "portal/messages.html",
        "messages",
        items=with_choices([readable(item) for item in _when_sent(page, items)]),
        sent_states=sorted(_SENT),
        may_reply=replace(page.principal, permission="messages:send").may_act_for(page.patient_id),
        sent=bool(sent),
        error=error == "empty",
        reply_key=uuid.uuid4().hex,  # one key per form shown: sent twice, stored once
    )


@router.post("/portal/messages")
def send_reply(
    request: Request,
    reach: Annotated[PatientReach, posted_for("messages:send")],
    ctx: InboundDep,
    body: Annotated[str, Form(max_length=4000)] = "",
    reply_key: Annotated[str | None, Form(pattern="^[0-9a-f]{32}$")] = None,
) -> Response:
    """The patient's (or proxy's) message, handled like an SMS reply so it reaches the team."""
    session, patient_id, principal = reach.session, reach.patient_id, reach.principal
    target = f"/portal/messages?patient={patient_id}"
    # A caregiver's words are the caregiver's, stored and audited as theirs.
    caregiver_id = (
        proxy_caregiver_id(session, user_id=principal.user_id, patient_id=patient_id)
        if principal.role == Role.CAREGIVER and principal.user_id is not None
        else None
    )
    try:
        outcome = receive_portal_reply(
            session,
            patient_id=patient_id,
            body=body,
            ctx=ctx,
            reply_key=reply_key,
            caregiver_id=caregiver_id,
        )
    except InvalidInput:
        return after_post(request, f"{target}&error=empty")
    detail = {"handled_as": outcome.handled_as}
    if caregiver_id:
        detail["caregiver"] = caregiver_id
    reach.audit(AuditAction.SEND, "portal-message", detail=detail)
    return after_post(request, f"{target}&sent=1")
