"""Offers in flight: the slots put to one patient, by text, in the portal or by a signed link.

An offer stores its choices (the finder's output, best first) and expires after
:data:`OFFER_HOURS`; a reply "2" books the second choice. Its id is short and random, and the
self-scheduling link carries it with an HMAC under ``security.secret_key``
(``<offer id>.<signature>``): the link cannot be forged or pointed at someone else's offer,
and it stops working when the offer expires, is answered, or is replaced by a newer one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy import ColumnElement, or_, select, update
from sqlalchemy.orm import Session, object_session

from careloop.access.finder import Offer
from careloop.clock import Clock
from careloop.crypto import signing_key
from careloop.db import patient_rows
from careloop.errors import LinkNotUsable
from careloop.events import EventKind, record_event
from careloop.models import AccessOffer, Enrollment, OutboxMessage
from careloop.outreach.config import outreach_settings
from careloop.outreach.states import DeadReason, OutboxState
from careloop.settings import Settings

OFFER_HOURS = 48
LINK_KIND = "link"  # a scheduling link sent on its own (access/directory.py)
MOVE_KIND = "move"  # other times for a booked visit (access/moves.py)
_UNSENT = (OutboxState.QUEUED, OutboxState.FAILED_TRANSIENT)
_ABOUT_VISIT = ("visit-booked", "ride-booked", "ride-fell-through", "reschedule-offer")
"""Request keys (``access.sending``) of the messages about one booking, bar its cancellation."""
_WORDS = {
    "en": {"for": "for", "video": "a video visit", "ride": "with a ride", "pattern": "EEE h:mm a"},
    "es": {"for": "para", "video": "video", "ride": "con transporte", "pattern": "EEE H:mm"},
    "pt": {"for": "para", "video": "vídeo", "ride": "com transporte", "pattern": "EEE H:mm"},
    "zh": {"for": "选", "video": "视频看诊", "ride": "安排接送", "pattern": "EEE H:mm"},
}


def _sign(key: bytes, offer_id: str) -> str:
    digest = hmac.new(key, f"booking-link|{offer_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:9]).decode()


def offer_sent(session: Session, *, row: AccessOffer, outbox_id: int | None, clock: Clock) -> None:
    """The offer's message was queued (``outbox_id``) or could not be: the offer remembers it,
    so the console says whether it went and a message still queued is dropped when the offer
    closes, and the report counts the offer (``slots_offered``) for its conversion."""
    row.outbox_id = outbox_id
    record_event(
        session,
        kind=EventKind.SLOTS_OFFERED,
        clock=clock,
        actor="system:access",
        patient_id=row.patient_id,
        subject_type="offer",
        subject_id=row.id,
        payload={"choices": len(row.choices), "kind": row.kind, "queued": outbox_id is not None},
    )


def link_token(key: bytes, offer_id: str) -> str:
    """The token of the self-scheduling link for this offer."""
    return f"{offer_id}.{_sign(key, offer_id)}"


def booking_url(settings: Settings, offer_id: str) -> str:
    """The signed self-scheduling link a message carries for this offer (the portal's
    ``/book/<token>`` page, which opens without signing in)."""
    own, _ = outreach_settings(settings)
    return f"{own.portal_link.rstrip('/')}/book/{link_token(signing_key(settings), offer_id)}"


def read_link_token(key: bytes, token: str) -> str:
    """The offer id a link names; a forged or altered token is a :class:`LinkNotUsable`."""
    offer_id, _, signature = token.partition(".")
    if not offer_id or len(token) > 64 or not hmac.compare_digest(signature, _sign(key, offer_id)):
        raise LinkNotUsable("invalid or expired booking link")
    return offer_id


def offer_from_json(choice: dict[str, object]) -> Offer:
    return Offer(
        slot=str(choice["slot"]),
        start=datetime.fromisoformat(str(choice["start"])),
        end=datetime.fromisoformat(str(choice["end"])),
        mode="telehealth" if choice["mode"] == "telehealth" else "in-person",
        ride=bool(choice["ride"]),
        why=str(choice["why"]),
    )


def choices_of(offer: AccessOffer) -> list[Offer]:
    return [offer_from_json(c) for c in offer.choices]


def choice_labels(offers: Sequence[Offer], *, language: str, timezone: str) -> str:
    """``1 for Tue 3:45 PM, 2 for Thu 5:00 PM, 3 for a video visit Wed 10:00 AM``."""
    lang = language.split("-")[0] if language.split("-")[0] in _WORDS else "en"
    words = _WORDS[lang]
    zone = ZoneInfo(timezone)
    parts = []
    for number, offer in enumerate(offers, start=1):
        when = format_datetime(offer.start.astimezone(zone), words["pattern"], locale=lang)
        when = " ".join(when.replace(".", "").split())
        if offer.mode == "telehealth":
            when = f"{words['video']} {when}"
        elif offer.ride:
            when = f"{when} {words['ride']}"
        parts.append(f"{number} {words['for']} {when}")
    return ", ".join(parts)


def open_offer(
    session: Session,
    *,
    offers: Sequence[Offer],
    patient_id: str,
    now: datetime,
    kind: str = "offer",
    service: str | None = None,
    replace_open: bool = True,
    hours: int = OFFER_HOURS,
) -> AccessOffer:
    """Store a new offer (replacing the patient's earlier open ones), open for ``hours``.

    Scheduling links for several needs at once (``kind="link"``, ``replace_open=False``)
    stand beside each other and beside a texted offer; a texted offer replaces only offers
    that are not links.
    """
    if replace_open:
        replaced = list(
            session.scalars(
                select(AccessOffer).where(
                    AccessOffer.patient_id == patient_id,
                    AccessOffer.state == "open",
                    AccessOffer.kind != LINK_KIND,
                )
            )
        )
        for old in replaced:
            old.state = "replaced"
        drop_unsent(session, [o.outbox_id for o in replaced], now=now)
    row = AccessOffer(
        id=secrets.token_urlsafe(12),
        patient_id=patient_id,
        kind=kind,
        state="open",
        service=service,
        choices=[o.as_json() for o in offers],
        created_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    session.add(row)
    session.flush()
    return row


def current_offer(session: Session, *, patient_id: str, now: datetime) -> AccessOffer | None:
    """The patient's open, unexpired offer (the newest), if any; a link is not answered by text."""
    return session.scalar(
        select(AccessOffer)
        .where(
            AccessOffer.patient_id == patient_id,
            AccessOffer.state == "open",
            AccessOffer.kind != LINK_KIND,
            AccessOffer.expires_at > now,
        )
        .order_by(AccessOffer.created_at.desc())
        .limit(1)
    )


def open_links(session: Session, *, patient_id: str, now: datetime) -> list[AccessOffer]:
    """The patient's open, unexpired scheduling links (one per need), oldest first."""
    return patient_rows(
        session,
        AccessOffer,
        patient_id,
        AccessOffer.created_at,
        AccessOffer.id,
        where=[
            AccessOffer.state == "open",
            AccessOffer.kind == LINK_KIND,
            AccessOffer.expires_at > now,
        ],
    )


def offer_by_id(session: Session, *, offer_id: str, now: datetime) -> AccessOffer:
    """An open offer named by a link; answered, replaced or expired ones are gone, and so is
    one whose every time has passed (a scheduling link stays open for weeks)."""
    row = session.get(AccessOffer, offer_id)
    if row is None or row.state != "open" or row.expires_at <= now:
        raise LinkNotUsable("invalid or expired booking link")
    if all(choice.start <= now for choice in choices_of(row)):
        raise LinkNotUsable("invalid or expired booking link")
    return row


def mark_answered(offer: AccessOffer, *, booking_id: str, now: datetime) -> None:
    """The offer is booked; its message, if still queued, no longer goes."""
    offer.state = "booked"
    offer.booking_id = booking_id
    offer.answered_at = now
    session = object_session(offer)
    if session is not None:
        drop_unsent(session, [offer.outbox_id], now=now)


def _dead(
    session: Session, condition: ColumnElement[bool], *, reason: DeadReason, now: datetime
) -> int:
    result = session.execute(
        update(OutboxMessage)
        .where(condition, OutboxMessage.state.in_(_UNSENT))
        .values(state=str(OutboxState.DEAD), dead_reason=str(reason), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def drop_unsent(session: Session, outbox_ids: Sequence[int | None], *, now: datetime) -> int:
    """Dead-letter the still-queued messages of offers that closed, so nobody is offered
    times already booked or withdrawn (the worker also checks at send time, for expiry)."""
    ids = [i for i in outbox_ids if i is not None]
    if not ids:
        return 0
    return _dead(session, OutboxMessage.id.in_(ids), reason=DeadReason.OFFER_CLOSED, now=now)


def drop_ride_notice(session: Session, *, booking_id: str, now: datetime) -> int:
    """The booking's ride fell through: its pickup time still queued dies (``visit-changed``),
    so the patient is not told a ride will come right after, or before, being told it will
    not."""
    key = f"request:ride-booked:{booking_id}"
    condition = or_(  # one notice a pickup (``sending.ride_booked_subject``)
        OutboxMessage.idempotency_key == key,
        OutboxMessage.idempotency_key.startswith(f"{key}:", autoescape=True),
    )
    return _dead(session, condition, reason=DeadReason.VISIT_CHANGED, now=now)


def drop_visit_messages(session: Session, *, booking_id: str, now: datetime) -> int:
    """The visit was cancelled or moved: its still-queued confirmation, ride notice, move
    offer, caregiver copy and journey reminders die (``visit-changed``), so nobody is told
    of a visit that is no longer there; the move offers naming it close."""
    moves = list(
        session.scalars(
            select(AccessOffer).where(
                AccessOffer.booking_id == booking_id,
                AccessOffer.state == "open",
                AccessOffer.kind == MOVE_KIND,
            )
        )
    )
    for offer in moves:
        offer.state = "withdrawn"
    keys = [f"request:{message}:{booking_id}" for message in _ABOUT_VISIT]
    condition = or_(
        OutboxMessage.idempotency_key.in_(keys),
        OutboxMessage.id.in_([o.outbox_id for o in moves if o.outbox_id is not None]),
        OutboxMessage.idempotency_key.startswith(f"caregiver_visit_booked:{booking_id}:cg:"),
        OutboxMessage.idempotency_key.startswith(
            f"request:ride-booked:{booking_id}:", autoescape=True
        ),
        OutboxMessage.enrollment_id.in_(
            select(Enrollment.id).where(Enrollment.episode == f"Appointment/{booking_id}")
        ),
    )
    return _dead(session, condition, reason=DeadReason.VISIT_CHANGED, now=now)
