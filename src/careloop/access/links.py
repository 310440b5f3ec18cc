"""Booking from a signed self-scheduling link (or the portal): show the offer, book a choice.

The link's token names one open offer (``offers.read_link_token``); a choice is booked like a
reply (hold, Appointment, slot busy), the offer is answered, a ride is planned where the choice
needs one, and ``visit_booked`` (plus ``ride_booked``) is queued through the outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from sqlalchemy.orm import Session

from careloop.access.directory import places_of
from careloop.access.finder import Offer
from careloop.access.offers import choices_of, offer_by_id, read_link_token
from careloop.access.self_service import book_offered
from careloop.audit import Auditor, Purpose
from careloop.clock import Clock
from careloop.models import AccessBooking, AccessOffer
from careloop.records.service import get_patient
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import Settings

LINK_PRINCIPAL = Principal(actor="link:self-scheduling", role=Role.PATIENT, source="link")


@dataclass(frozen=True)
class LinkChoice:
    number: int
    label: str
    mode: str
    ride: bool
    slot: str = ""
    place: str | None = None
    """Where (the slot's Location name): identical times at three places are three choices."""
    service: str | None = None
    """What is booked there (the Schedule's service)."""


@dataclass(frozen=True)
class LinkOffer:
    offer: AccessOffer
    language: str
    choices: list[LinkChoice]


# How a link page names a time, per language (Spanish's pattern serves other Romance ones).
_PATTERNS = {
    "en": "EEEE d MMMM, h:mm a",
    "es": "EEEE d 'de' MMMM, H:mm",
    "pt": "EEEE, d 'de' MMMM, H:mm",
    "zh": "M月d日 EEEE H:mm",
}


def when_label(start: datetime, *, zone: str, language: str) -> str:
    """``Tuesday 3 March, 3:45 PM``: a visit's time as the patient reads it."""
    language = language.split("-")[0]
    pattern = _PATTERNS.get(language, _PATTERNS["es"])
    return str(format_datetime(start.astimezone(ZoneInfo(zone)), pattern, locale=language))


def labelled_choices(
    session: Session, offer: AccessOffer, *, language: str | None = None
) -> tuple[str, list[LinkChoice]]:
    """The offer's choices as the patient reads them: their language, in their zone."""
    return label_offers(
        session, patient_id=offer.patient_id, offers=choices_of(offer), language=language
    )


def label_offers(
    session: Session, *, patient_id: str, offers: Sequence[Offer], language: str | None = None
) -> tuple[str, list[LinkChoice]]:
    """Times as the patient reads them (their language and zone), each with what and where,
    so two times at the same hour in different places never look alike. ``language``: the
    page's, where the patient chose one in the portal (else the record's)."""
    patient = get_patient(session, patient_id)
    language = (language or patient.language or "en").split("-")[0]
    places = places_of(session, [o.slot for o in offers])
    choices = [
        LinkChoice(
            number,
            when_label(o.start, zone=patient.timezone, language=language),
            o.mode,
            o.ride,
            o.slot,
            place=places[o.slot].name if o.slot in places else None,
            service=places[o.slot].service_in(language) if o.slot in places else None,
        )
        for number, o in enumerate(offers, start=1)
    ]  # fmt: skip
    return language, choices


def open_link(session: Session, *, key: bytes, token: str, clock: Clock) -> LinkOffer:
    """The offer a link names, with its choices in the patient's language and zone."""
    offer = offer_by_id(session, offer_id=read_link_token(key, token), now=clock.now())
    language, choices = labelled_choices(session, offer)
    Auditor(session, clock, LINK_PRINCIPAL, Purpose.PATIENT_REQUEST).read(
        "slot-offer", [offer.patient_id]
    )
    return LinkOffer(offer, language, choices)


def book_from_link(
    session: Session, *, key: bytes, token: str, choice: int, clock: Clock, settings: Settings
) -> AccessBooking:
    """Book choice ``choice`` (1-based) of the linked offer; :class:`SlotTaken` if it went."""
    offer = offer_by_id(session, offer_id=read_link_token(key, token), now=clock.now())
    return book_offered(
        session,
        offer=offer,
        choice=choice,
        clock=clock,
        principal=LINK_PRINCIPAL,
        channel="link",
        settings=settings,
    )
