"""Offers and confirmations out through the outbox, like any message.

A first offer goes through ``outreach.requests.request_message`` (consent, channel chosen by the
engine, quiet hours, approved words in the patient's language); its words are
``slot_offer`` with the choices and the signed self-scheduling link. Confirmations of a booking
made in the portal or by a link are ``visit_booked``, a ride arranged is ``ride_booked`` and
one that fell through is ``ride_fell_through``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.access.directory import places_of
from careloop.access.finder import Offer, distinct_times
from careloop.access.offers import booking_url, choice_labels, offer_sent, open_offer
from careloop.access.service import MAX_LIMIT, find_offers
from careloop.clock import Clock, ensure_utc
from careloop.models import AccessBooking, Patient
from careloop.outreach.config import outreach_settings
from careloop.outreach.requests import RequestedMessage, request_message
from careloop.records.service import get_patient
from careloop.settings import Settings

PURPOSE = "care-reminders"
VIDEO_PLACE = {"en": "video visit", "es": "visita por video", "pt": "consulta por vídeo",
               "zh": "视频就诊"}  # fmt: skip
"""Where a video visit is, in the words of a confirmation's ``Place:``."""


@dataclass(frozen=True, slots=True)
class SentOffer:
    offer_id: str | None
    choices: int
    outbox_id: int | None
    not_queued: str | None = None


def send_offer(
    session: Session,
    *,
    patient_id: str,
    clock: Clock,
    settings: Settings,
    service: str | None = None,
    services: frozenset[str] | None = None,
    limit: int = 3,
    kind: str = "offer",
    days: int = 14,
) -> SentOffer:
    """Find the best slots (of ``service``, or of any of ``services``), store the offer and
    queue ``slot_offer`` for the patient."""
    now = clock.now()
    found = find_offers(
        session,
        patient_id=patient_id,
        now=now,
        service=service,
        services=services,
        limit=MAX_LIMIT,
        days=days,
    )
    return queue_offer(
        session,
        offers=distinct_times(found)[:limit],
        patient_id=patient_id,
        message="slot_offer",
        now=now,
        clock=clock,
        settings=settings,
        kind=kind,
        service=service,
    )


def queue_offer(
    session: Session,
    *,
    offers: Sequence[Offer],
    patient_id: str,
    message: str,
    now: datetime,
    clock: Clock,
    settings: Settings,
    kind: str,
    service: str | None = None,
    moving: AccessBooking | None = None,
) -> SentOffer:
    """Store the offer and queue ``message`` with its choices and signed link: the one path
    for a texted offer and for a move offer (``moving``: the booking it would move, queued
    once per booking). No offer is stored and nothing is queued when no slot fits."""
    if not offers:
        return SentOffer(None, 0, None, not_queued="no-slot-fits")
    patient = get_patient(session, patient_id)
    row = open_offer(
        session, offers=offers, patient_id=patient_id, now=now, kind=kind, service=service
    )
    fields: dict[str, object] = {}
    key = f"slot-offer:{row.id}"
    if moving is not None:
        row.booking_id = moving.id
        fields["appointment_at"] = moving.start
        key = f"reschedule-offer:{moving.id}"
    fields.update(offer_fields(settings, offer_id=row.id, offers=offers, patient=patient))
    sent = request_message(
        session,
        patient_id=patient_id,
        message=message,
        purpose=PURPOSE,
        key=key,
        now=now,
        clock=clock,
        settings=settings,
        fields=fields,
    )
    offer_sent(session, row=row, outbox_id=sent.outbox_id, clock=clock)
    return SentOffer(row.id, len(offers), sent.outbox_id, sent.not_queued)


def offer_fields(
    settings: Settings, *, offer_id: str, offers: Sequence[Offer], patient: Patient
) -> dict[str, object]:
    """An offer's message fields: its times in the patient's words and zone, and the signed
    link that books one of them (a first offer, a move and a back-fill say it alike)."""
    return {
        "slot_choices": choice_labels(
            offers, language=patient.language or "en", timezone=patient.timezone
        ),
        "booking_link": booking_url(settings, offer_id),
    }


def visit_place(session: Session, booking: AccessBooking, *, fallback: str) -> str:
    """Where a confirmation says the visit is: the slot's Location name (a video visit: the
    words for one, in the patient's language), else ``fallback`` (``default_place``). A
    confirmation that never said where left a patient with three clinics guessing."""
    if booking.mode == "telehealth":
        language = (get_patient(session, booking.patient_id).language or "en").split("-")[0]
        return VIDEO_PLACE.get(language, VIDEO_PLACE["en"])
    place = places_of(session, [booking.slot_id]).get(booking.slot_id)
    return (place.name if place else None) or fallback


def request_about(
    session: Session,
    *,
    patient_id: str,
    message: str,
    subject_id: object,
    now: datetime,
    clock: Clock,
    settings: Settings,
    fields: dict[str, object] | None = None,
) -> RequestedMessage:
    """One library message about a booking or an offer, queued once per subject: its key is
    the message's name and the subject's id (``slot-gone:<offer>``, ``visit-booked:<booking>``)."""
    return request_message(
        session,
        patient_id=patient_id,
        message=message,
        purpose=PURPOSE,
        key=f"{message.replace('_', '-')}:{subject_id}",
        now=now,
        clock=clock,
        settings=settings,
        fields=fields,
    )


def _about_booking(
    session: Session,
    booking: AccessBooking,
    message: str,
    *,
    clock: Clock,
    settings: Settings,
    fields: dict[str, object],
) -> RequestedMessage:
    """One library message about a booking to its patient, queued once per booking."""
    return request_about(
        session,
        patient_id=booking.patient_id,
        message=message,
        subject_id=booking.id,
        now=clock.now(),
        clock=clock,
        settings=settings,
        fields=fields,
    )


def booked_key(booking_id: str) -> str:
    """The request key of a booking's ``visit_booked`` confirmation (see _about_booking), by
    which the portal finds whether it was sent or waits for its time."""
    return f"visit-booked:{booking_id}"


def send_booked(
    session: Session, *, booking: AccessBooking, clock: Clock, settings: Settings
) -> RequestedMessage:
    """``visit_booked`` for a booking made in the portal, by a link or by staff."""
    return _about_booking(
        session,
        booking,
        "visit_booked",
        clock=clock,
        settings=settings,
        fields={
            "appointment_at": booking.start,
            "appointment_place": visit_place(
                session, booking, fallback=outreach_settings(settings)[0].default_place
            ),
        },
    )


def send_cancelled(
    session: Session, *, booking: AccessBooking, clock: Clock, settings: Settings
) -> RequestedMessage:
    """``visit_cancelled`` for a visit cancelled in the portal (a reply "C" gets it as the
    answer on its own channel): the patient has it in writing that the time is gone."""
    return _about_visit_time(session, booking, "visit_cancelled", clock=clock, settings=settings)


def send_ride_booked(
    session: Session,
    *,
    booking: AccessBooking,
    pickup_at: datetime,
    clock: Clock,
    settings: Settings,
) -> RequestedMessage:
    """``ride_booked``: when the ride will pick the patient up. Queued once per booking and
    pickup (:func:`ride_booked_key`): a visit moved in place (the EHR's move, followed by
    ``access.imported_visits``) gets a new pickup, and the patient is told it, not kept on
    the old one by the notice already sent."""
    return request_about(
        session,
        patient_id=booking.patient_id,
        message="ride_booked",
        subject_id=ride_booked_subject(booking.id, pickup_at),
        now=clock.now(),
        clock=clock,
        settings=settings,
        fields={"pickup_at": pickup_at},
    )


def ride_booked_subject(booking_id: str, pickup_at: datetime) -> str:
    """``<booking>:<pickup, UTC>``: the subject of one pickup's ``ride_booked``."""
    return f"{booking_id}:{ensure_utc(pickup_at):%Y%m%dT%H%M%SZ}"


def send_ride_fell_through(
    session: Session, *, booking: AccessBooking, clock: Clock, settings: Settings
) -> RequestedMessage:
    """``ride_fell_through``: the ride is off, the care team is arranging another."""
    return _about_visit_time(session, booking, "ride_fell_through", clock=clock, settings=settings)


def _about_visit_time(
    session: Session, booking: AccessBooking, message: str, *, clock: Clock, settings: Settings
) -> RequestedMessage:
    """A message about a booking whose only field is the visit's time."""
    return _about_booking(
        session,
        booking,
        message,
        clock=clock,
        settings=settings,
        fields={"appointment_at": booking.start},
    )
