"""A reply typed in the portal: stored once per form, then routed like an SMS reply.

The portal's reply has no provider to answer for it, so it is tied to the patient's latest
message here (or, with nothing sent yet, filed straight for the care team) before
:func:`~careloop.conversations.inbound.handle_reply` takes it like any other reply.

A caregiver writing as the patient's proxy writes their own words, never the patient's: the
message is stored as the caregiver's and always read by a person (a "1" or a "STOP" from a
caregiver is no dose taken and no opt-out of the patient's), as a caregiver's SMS reply is.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.channels.keywords import Keyword
from careloop.channels.messages import InboundMessage
from careloop.channels.portal import portal_reply
from careloop.conversations.context import InboundContext
from careloop.conversations.free_text import ToRead, file_free_text
from careloop.conversations.inbound import handle_reply
from careloop.events import EventKind
from careloop.outreach import replies
from careloop.outreach.messages import checked_body
from careloop.outreach.replies import ReplyOutcome

_PATIENTS_MESSAGE = ToRead(
    "Read the patient's message", "A portal message that answers no reminder."
)
_CAREGIVERS_MESSAGE = ToRead(
    "Read the caregiver's message", "A caregiver's portal message, for the patient."
)


def receive_portal_reply(
    session: Session,
    *,
    patient_id: str,
    body: str,
    ctx: InboundContext,
    reply_key: str | None = None,
    caregiver_id: str | None = None,
) -> ReplyOutcome:
    """A reply typed in the portal, handled like an SMS reply to the patient's latest message.

    With nothing sent to the patient yet there is nothing to answer, so the reply is stored
    for the care team directly (a task to read it and a ``replied`` event). ``reply_key`` is
    the form's own key: the same form posted twice (a double click, a resubmitted page) is
    stored once, as a provider's retried webhook is.
    """
    text = checked_body(body)
    now = ctx.clock.now()
    reply_id = f"portal-reply:{reply_key or uuid.uuid4().hex}"
    latest = replies.latest_message_to(session, patient_id=patient_id)
    message = portal_reply(
        item_id=latest[1] if latest else "",
        sender=patient_id,
        recipient="portal",
        body=text,
        reply_id=reply_id,
        received_at=now,
    )
    seen = replies.already_received(session, message)
    if seen is not None:
        return seen
    try:
        with session.begin_nested():
            return _store_portal_reply(
                session,
                ctx=ctx,
                message=message,
                answers=latest is not None and caregiver_id is None,
                caregiver_id=caregiver_id,
            )
    except IntegrityError:
        # Both posts of a double click passed the look-up before either was committed: the
        # first one stored it, this one is the same reply.
        seen = replies.already_received(session, message)
        if seen is None:
            raise
        return seen


def _store_portal_reply(
    session: Session,
    *,
    ctx: InboundContext,
    message: InboundMessage,
    answers: bool,
    caregiver_id: str | None,
) -> ReplyOutcome:
    if answers:
        return handle_reply(session, ctx=ctx, message=message)
    patient_id, text, now = message.sender, message.body, message.received_at
    queued = file_free_text(
        session,
        ctx=ctx,
        message=message,
        patient_id=patient_id,
        program=None,
        routine=_CAREGIVERS_MESSAGE if caregiver_id else _PATIENTS_MESSAGE,
        caregiver_id=caregiver_id,
    ).queued
    replies.store_reply(
        session,
        replace(message, keyword=Keyword.FREE_TEXT),
        patient_id=patient_id,
        handled_as="care-team-inbox",
        caregiver_id=caregiver_id,
    )
    replies.patient_event(
        session,
        clock=ctx.clock,
        kind=EventKind.REPLIED,
        patient_id=patient_id,
        now=now,
        payload={
            "outbox_id": None,
            "keyword": str(Keyword.FREE_TEXT),
            "channel": "portal",
            **replies.reply_evidence(body=text, handled_as="care-team-inbox"),
        },
        caregiver_id=caregiver_id,
    )
    return ReplyOutcome("care-team-inbox", patient_id, None, None, queued_reply=queued)
