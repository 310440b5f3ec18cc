"""Two-way messaging with one patient: the conversation, a care-team message, a portal reply.

A conversation is not a table of its own: messages out are outbox rows and replies are
inbound rows, so what the care team reads is exactly what was sent and received. A staff
message is queued like any other (consent checked now and again by the worker before it
leaves); a reply typed in the portal is routed above outreach
(:func:`careloop.conversations.portal_replies.receive_portal_reply`), exactly like an SMS reply.
Services only flush; the edge audits and commits.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.content.render import email_html
from careloop.errors import Conflict, InvalidInput
from careloop.governance.consent import consent_decision
from careloop.models import Caregiver, InboundReply, OutboxMessage
from careloop.outreach.audience import patient_recipient
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.personalize.service import get_profile

MAX_LENGTH = 1000
PURPOSE = "care-reminders"
STAFF_CHANNELS = ("sms", "portal", "email")
"""Channels a typed message can go by (a phone call needs a script, not free text)."""
SUBJECT = "Message from your care team"
_FORM_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationItem:
    """One message in the conversation, as both the console and the portal show it."""

    direction: str  # "out" (to the patient or caregiver) or "in" (their reply)
    id: int
    channel: str
    body: str
    state: str  # outbox state for "out"; what careloop did with it for "in"
    at: datetime
    from_care_team: bool = False
    recipient_kind: str = "patient"
    read_at: str | None = None
    language: str | None = None  # of the words sent ("en" when a translation awaits review)
    transactional: bool = False  # goes at once, even in quiet hours (STOP/HELP confirmations)
    answers: int | None = None  # for "in": the message out (its ``id``) the reply answered
    purpose: str | None = None  # for "out": the consent purpose it is sent under
    content: str | None = None  # for "out": the library message it was rendered from
    changed_at: datetime | None = None  # for "out": when the row last changed (FHIR lastUpdated)
    author: str | None = None  # for "out": the staff actor who wrote a care-team message
    sender_kind: str = "careloop"  # "staff" wrote it, else careloop; "patient" or "caregiver" in
    sender_name: str | None = None  # for "in" by a known caregiver: "Maria (daughter, caregiver)"
    caregiver_id: str | None = None  # for "in" written by a caregiver in the portal (0710)


def _out_item(row: OutboxMessage) -> ConversationItem:
    extra = row.extra or {}
    return ConversationItem(
        direction="out",
        id=row.id,
        channel=row.channel,
        body=row.body,
        state=row.state,
        at=row.sent_at or row.due_at,
        from_care_team=bool(extra.get("staff_message")),
        recipient_kind=row.recipient_kind,
        read_at=extra.get("portal_read_at"),
        language=row.language,
        transactional=bool(extra.get("transactional")),
        purpose=row.purpose,
        content=row.content_message,
        changed_at=row.updated_at,
        author=extra.get("author") if extra.get("staff_message") else None,
        sender_kind="staff" if extra.get("staff_message") else "careloop",
    )


def _in_item(
    row: InboundReply, *, answered_kind: str | None = None, names: dict[str, str] | None = None
) -> ConversationItem:
    # A caregiver's portal message, a reply answering a caregiver's copy (or a caregiver's
    # STOP/START) is the caregiver's.
    by_caregiver = (
        row.caregiver_id is not None
        or answered_kind == "caregiver"
        or row.handled_as.startswith("caregiver-")
    )
    sender = "caregiver" if by_caregiver else "patient"
    name = (names or {}).get(row.caregiver_id) if row.caregiver_id else None
    return ConversationItem(
        direction="in", id=row.id, channel=row.channel, body=row.body, state=row.handled_as,
        at=row.received_at, answers=row.outbox_id, sender_kind=sender, sender_name=name,
        caregiver_id=row.caregiver_id,
    )  # fmt: skip


def _caregiver_names(session: Session, replies: Collection[InboundReply]) -> dict[str, str]:
    """ "Maria (daughter, caregiver)" for each caregiver who wrote one of ``replies``: the
    care team reads who wrote, as the patient's record names them."""
    ids = sorted({r.caregiver_id for r in replies if r.caregiver_id})
    if not ids:
        return {}
    rows = session.execute(
        select(Caregiver.id, Caregiver.name, Caregiver.relationship).where(Caregiver.id.in_(ids))
    ).tuples()
    return {cid: caregiver_label(name, relationship) for cid, name, relationship in rows}


def caregiver_label(name: str | None, relationship: str | None) -> str:
    """A caregiver as a nurse names them: first name, then the relationship and the role."""
    first = (name or "").split(" ")[0]
    role = f"{relationship.lower()}, caregiver" if relationship else "caregiver"
    if not first:
        return f"Caregiver ({relationship.lower()})" if relationship else "Caregiver"
    return f"{first} ({role})"


def _newest_first(items: list[ConversationItem]) -> list[ConversationItem]:
    return sorted(items, key=lambda i: (i.at, i.direction == "in", i.id), reverse=True)


def conversation(session: Session, *, patient_id: str, limit: int = 100) -> list[ConversationItem]:
    """The patient's messages out and replies in, newest first."""
    when = func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at)
    out = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.patient_id == patient_id)
        .order_by(when.desc(), OutboxMessage.id.desc())
        .limit(limit)
    ).all()
    replies = session.scalars(
        select(InboundReply)
        .where(InboundReply.patient_id == patient_id)
        .order_by(InboundReply.received_at.desc(), InboundReply.id.desc())
        .limit(limit)
    ).all()
    kinds = {row.id: row.recipient_kind for row in out}
    names = _caregiver_names(session, replies)
    items = [_out_item(row) for row in out]
    items += [
        _in_item(row, answered_kind=kinds.get(row.outbox_id or 0), names=names) for row in replies
    ]
    return _newest_first(items)[:limit]


def recent_conversations(
    session: Session,
    *,
    patient_ids: Collection[str],
    per_patient: int,
    now: datetime | None = None,
) -> dict[str, list[ConversationItem]]:
    """Each patient's latest ``per_patient`` messages out and in, oldest first (as a thread
    reads), in two queries however many patients: a worklist page shows one per reply card.
    With ``now``, messages queued for later are left out: they are not the conversation so
    far, and a week of decided reminders would push the patient's words off the card."""
    if not patient_ids or per_patient < 1:
        return {}
    ids = sorted(set(patient_ids))
    when = func.coalesce(OutboxMessage.sent_at, OutboxMessage.due_at)
    so_far = [when <= now] if now is not None else []
    out_rank = (
        func.row_number()
        .over(
            partition_by=OutboxMessage.patient_id,
            order_by=(when.desc(), OutboxMessage.id.desc()),
        )
        .label("rank")
    )
    latest_out = (
        select(OutboxMessage.id, out_rank)
        .where(OutboxMessage.patient_id.in_(ids), *so_far)
        .subquery()
    )
    out = session.scalars(
        select(OutboxMessage)
        .join(latest_out, latest_out.c.id == OutboxMessage.id)
        .where(latest_out.c.rank <= per_patient)
    ).all()
    in_rank = (
        func.row_number()
        .over(
            partition_by=InboundReply.patient_id,
            order_by=(InboundReply.received_at.desc(), InboundReply.id.desc()),
        )
        .label("rank")
    )
    latest_in = select(InboundReply.id, in_rank).where(InboundReply.patient_id.in_(ids)).subquery()
    replies = session.scalars(
        select(InboundReply)
        .join(latest_in, latest_in.c.id == InboundReply.id)
        .where(latest_in.c.rank <= per_patient)
    ).all()
    kinds = {row.id: row.recipient_kind for row in out}
    # Who a reply came from is whom the message it answers went to, however old that is.
    older = {r.outbox_id for r in replies if r.outbox_id is not None} - kinds.keys()
    if older:
        kinds |= dict(
            session.execute(
                select(OutboxMessage.id, OutboxMessage.recipient_kind).where(
                    OutboxMessage.id.in_(sorted(older))
                )
            )
            .tuples()
            .all()
        )
    names = _caregiver_names(session, replies)
    threads: dict[str, list[ConversationItem]] = {}
    for row in out:
        threads.setdefault(row.patient_id, []).append(_out_item(row))
    for reply in replies:
        item = _in_item(reply, answered_kind=kinds.get(reply.outbox_id or 0), names=names)
        threads.setdefault(reply.patient_id or "", []).append(item)
    # Oldest first: a reply right after the message it answers when both carry one time (a
    # check-in's questions and answers, texted back within the same second).
    return {pid: sorted(items, key=_thread_order)[-per_patient:] for pid, items in threads.items()}


def _thread_order(item: ConversationItem) -> tuple[datetime, int, bool]:
    if item.direction == "in":
        return (item.at, item.answers or 0, True)
    return (item.at, item.id, False)


def checked_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise InvalidInput("the message is empty", field="body")
    if len(text) > MAX_LENGTH:
        raise InvalidInput(f"the message is longer than {MAX_LENGTH} characters", field="body")
    return text


def _choose_channel(
    session: Session,
    *,
    patient_id: str,
    wanted: str | None,
    addresses: dict[str, str],
    now: datetime,
) -> tuple[str, str]:
    """The channel and address: the one asked for, else the patient's stated channel, else
    the first with an address and consent."""
    if wanted is not None:
        if wanted not in STAFF_CHANNELS:
            raise InvalidInput(f"choose one of {', '.join(STAFF_CHANNELS)}", field="channel")
        address = addresses.get(wanted)
        if address is None:
            raise InvalidInput(f"the patient has no {wanted} address on file", field="channel")
        decision = consent_decision(
            session, patient_id=patient_id, purpose=PURPOSE, channel=wanted, now=now
        )
        if not decision.allowed:
            raise Conflict(
                f"the patient has not agreed to care messages by {wanted} ({decision.reason})"
            )
        return wanted, address
    stated = get_profile(session, patient_id=patient_id).stated.channel
    order = ([stated] if stated in STAFF_CHANNELS else []) + list(STAFF_CHANNELS)
    for channel in dict.fromkeys(order):
        address = addresses.get(channel)
        if address is None:
            continue
        if consent_decision(
            session, patient_id=patient_id, purpose=PURPOSE, channel=channel, now=now
        ).allowed:
            return channel, address
    raise Conflict("the patient has not agreed to care messages on any channel we can reach")


def queue_staff_message(
    session: Session,
    *,
    patient_id: str,
    body: str,
    channel: str | None,
    clock: Clock,
    actor: str,
    sender: str | None = None,
    idempotency_key: str | None = None,
) -> OutboxMessage:
    """Queue a care-team message due now; the normal worker sends it (and re-checks consent).

    ``idempotency_key`` comes from the form (one per rendered form): a double click or a
    resubmission returns the message the first click queued instead of texting twice.
    """
    text = checked_body(body)
    now = clock.now()
    if idempotency_key is not None:
        if not _FORM_KEY.fullmatch(idempotency_key):
            raise InvalidInput("the form's key is malformed", field="idempotency_key")
        key = f"staff:{patient_id}:{idempotency_key}"
        existing = session.scalar(select(OutboxMessage).where(OutboxMessage.idempotency_key == key))
        if existing is not None:
            return existing
    _patient, recipient = patient_recipient(session, patient_id=patient_id)
    chosen, address = _choose_channel(
        session, patient_id=patient_id, wanted=channel, addresses=recipient.addresses, now=now
    )
    row = enqueue(
        session,
        message=NewMessage(
            idempotency_key=f"staff:{patient_id}:{idempotency_key or uuid.uuid4().hex}",
            patient_id=patient_id,
            purpose=PURPOSE,
            channel=chosen,
            to_address=address,
            sender=sender,
            subject=SUBJECT if chosen in ("email", "portal") else None,
            body=text,
            # An email is multipart/alternative like every other: the same words as HTML.
            html=email_html(text=text, subject=SUBJECT, language=recipient.language)
            if chosen == "email"
            else None,
            due_at=now,
            language=recipient.language,
            max_attempts=5,
            extra={"staff_message": True, "author": actor},
        ),
        now=now,
    )
    if row is None:  # a fresh random key cannot collide; guard anyway
        raise Conflict("the message could not be queued; try again")
    return row
