"""A reply to an offer or a booking: book the choice, cancel, or reschedule.

Called by the reply router (``conversations.inbound``) before it reads a reply as a check-in
answer or a reschedule request for a person; returns None when the reply is not for access
(no open offer or booking, or words outside ``grammar``), so the router carries on. The answer
goes back on the reply's own channel at once (transactional), in the patient's language: the
booked time, new choices when the chosen time was just taken, or the cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.access import booking as bookings
from careloop.access import companions
from careloop.access.finder import Offer, distinct_times
from careloop.access.grammar import BookingReply, parse_booking_reply
from careloop.access.moves import book_choice, release
from careloop.access.offers import (
    choice_labels,
    choices_of,
    current_offer,
    open_offer,
)
from careloop.access.rides import plan_ride
from careloop.access.sending import visit_place
from careloop.access.service import find_offers
from careloop.access.slots import slot_services
from careloop.access.waitlist import tell_the_others
from careloop.channels.messages import InboundMessage
from careloop.clock import Clock
from careloop.models import OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.outreach.replies import queue_keyword_reply
from careloop.records.service import get_patient
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import Settings

OFFER_MESSAGES = frozenset({"slot_offer", "reschedule_offer"})
"""Messages that put numbered choices to the patient (a first offer, an early move)."""
PATIENT_REPLY = Principal(actor="patient:reply", role=Role.PATIENT, source="sms")


@dataclass(frozen=True, slots=True)
class AccessReply:
    handled_as: str
    queued_reply: bool


def _answer(
    session: Session,
    *,
    message: InboundMessage,
    patient_id: str,
    content: str,
    settings: OutreachSettings,
    fields: dict[str, Any],
) -> bool:
    """Access's answer on the reply's channel: the same path as a keyword confirmation."""
    return queue_keyword_reply(
        session,
        settings=settings,
        message=message,
        patient_id=patient_id,
        content=content,
        fields={"booking_link": settings.booking_link, **fields},
    )


def _new_choices(
    session: Session,
    *,
    patient_id: str,
    now: datetime,
    kind: str,
    service: str | None = None,
    services: frozenset[str] | None = None,
) -> tuple[list[Offer], dict[str, Any]]:
    """New times for the same kind of visit (the offer's service, or what the visit being
    moved was for), each a different time a reply can name."""
    found = find_offers(
        session, patient_id=patient_id, now=now, service=service, services=services, limit=12
    )
    offers = distinct_times(found)[:3]
    if not offers:
        return [], {}
    open_offer(session, offers=offers, patient_id=patient_id, now=now, kind=kind, service=service)
    patient = get_patient(session, patient_id)
    labels = choice_labels(offers, language=patient.language or "en", timezone=patient.timezone)
    return offers, {"slot_choices": labels}


def _book_choice(
    session: Session,
    *,
    parsed: BookingReply,
    patient_id: str,
    message: InboundMessage,
    clock: Clock,
    settings: OutreachSettings,
    app_settings: Settings | None,
    answered_outbox_id: int | None,
) -> AccessReply | None:
    now = message.received_at
    offer = current_offer(session, patient_id=patient_id, now=now)
    if offer is None or parsed.choice is None or parsed.choice > len(offer.choices):
        return None
    if answered_outbox_id is not None:
        # A bare number answers the offer only when the message it answers is an offer: "2"
        # to a check-in question sent after the offer is the check-in's answer.
        answered = session.get(OutboxMessage, answered_outbox_id)
        if answered is not None and answered.content_message not in OFFER_MESSAGES:
            return None
    chosen = choices_of(offer)[parsed.choice - 1]
    try:
        booked = book_choice(
            session,
            offer=offer,
            chosen=chosen,
            now=now,
            clock=clock,
            principal=PATIENT_REPLY,
            channel=str(message.channel),
            settings=app_settings,
        )
    except bookings.SlotTaken:
        offers, fields = _new_choices(
            session, patient_id=patient_id, now=now, kind="retry", service=offer.service
        )
        content = "slot_offer" if offers else "slot_gone"
        queued = _answer(
            session,
            message=message,
            patient_id=patient_id,
            content=content,
            settings=settings,
            fields=fields,
        )
        return AccessReply("slot-taken", queued)
    if offer.kind == "backfill" and app_settings is not None:
        tell_the_others(session, clock=clock, settings=app_settings)
    if booked.ride:
        plan_ride(session, booking=booked, now=now)
    if app_settings is not None:
        companions.tell_companions(
            session, booking=booked, message=companions.BOOKED, clock=clock, settings=app_settings
        )
    queued = _answer(
        session,
        message=message,
        patient_id=patient_id,
        content="visit_booked",
        settings=settings,
        fields={
            "appointment_at": booked.start,
            "appointment_place": visit_place(session, booked, fallback=settings.default_place),
        },
    )
    return AccessReply("booked", queued)


def handle_access_reply(
    session: Session,
    *,
    patient_id: str,
    message: InboundMessage,
    clock: Clock,
    settings: OutreachSettings,
    app_settings: Settings | None = None,
    answered_outbox_id: int | None = None,
) -> AccessReply | None:
    """Act on a reply meant for access; None when it is not one.

    ``answered_outbox_id`` is the message the reply answers (the router knows it): a choice
    counts only when that message is an offer.

    With ``app_settings`` a slot freed by a cancel is offered to the waitlist at once (and
    back-fill offers someone else just won are closed), and the caregiver who comes along is
    told of a booking, a cancellation or a move; without, ``careloop schedule backfill`` does
    the back-fill.
    """
    parsed = parse_booking_reply(message.body)
    if parsed is None:
        return None
    if parsed.kind == "choice":
        return _book_choice(
            session,
            parsed=parsed,
            patient_id=patient_id,
            message=message,
            clock=clock,
            settings=settings,
            app_settings=app_settings,
            answered_outbox_id=answered_outbox_id,
        )
    live = [
        b
        for b in bookings.live_bookings(session, patient_id=patient_id)
        if b.start > message.received_at
    ]
    if not live:
        return None
    target = live[0]
    release(
        session,
        booking=target,
        clock=clock,
        principal=PATIENT_REPLY,
        settings=app_settings,
        tell=companions.CANCELLED if parsed.kind == "cancel" else companions.MOVING,
    )
    if parsed.kind == "cancel":
        queued = _answer(
            session,
            message=message,
            patient_id=patient_id,
            content="visit_cancelled",
            settings=settings,
            fields={"appointment_at": target.start},
        )
        return AccessReply("visit-cancelled", queued)
    offers, fields = _new_choices(
        session,
        patient_id=patient_id,
        now=message.received_at,
        kind="reschedule",
        services=slot_services(session, target.slot_id) or None,
    )
    queued = _answer(
        session,
        message=message,
        patient_id=patient_id,
        content="slot_offer" if offers else "visit_cancelled",
        settings=settings,
        fields=fields or {"appointment_at": target.start},
    )
    return AccessReply("rescheduling", queued)
