"""What a patient does with their visits themselves: pick an offered time, move or cancel.

Shared by the signed link (``links``) and the signed-in portal page: booking a choice confirms
to the patient (``visit_booked``), tells the caregiver who comes along, and plans the ride
(``ride_booked`` once it is arranged); cancelling frees the slot for the waitlist and tells
the caregiver; moving cancels and puts new choices in front of the patient.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.access import booking as bookings
from careloop.access import companions
from careloop.access.finder import Offer
from careloop.access.moves import finish_move, moving_from
from careloop.access.offers import choices_of, current_offer, mark_answered, open_offer
from careloop.access.rides import plan_ride
from careloop.access.sending import send_booked, send_ride_booked
from careloop.access.service import find_offers
from careloop.access.waitlist import backfill
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound
from careloop.models import AccessBooking, AccessOffer
from careloop.security.principal import Principal
from careloop.settings import Settings

PORTAL_OFFER = "portal"


def book_offered(
    session: Session,
    *,
    offer: AccessOffer,
    choice: int,
    clock: Clock,
    principal: Principal,
    channel: str,
    settings: Settings,
) -> AccessBooking:
    """Book choice ``choice`` (1-based) of an open offer; :class:`SlotTaken` if it went."""
    now = clock.now()
    options = choices_of(offer)
    if not 1 <= choice <= len(options):
        raise InvalidInput(f"choose a number from 1 to {len(options)}", field="choice")
    moving = moving_from(offer)
    booked = bookings.book(
        session,
        patient_id=offer.patient_id,
        offer=options[choice - 1],
        clock=clock,
        principal=principal,
        channel=channel,
        offer_id=offer.id,
    )
    mark_answered(offer, booking_id=booked.id, now=now)
    finish_move(session, old_booking_id=moving, clock=clock, principal=principal, settings=settings)
    send_booked(session, booking=booked, clock=clock, settings=settings)
    companions.tell_companions(
        session, booking=booked, message=companions.BOOKED, clock=clock, settings=settings
    )
    if booked.ride:
        ride = plan_ride(session, booking=booked, now=now)
        send_ride_booked(
            session, booking=booked, pickup_at=ride.pickup_at, clock=clock, settings=settings
        )
    return booked


def _with_video_alternative(best: list[Offer], wider: list[Offer]) -> list[Offer]:
    """The best offers, plus the best video visit when none of them is one."""
    if any(o.mode == "telehealth" for o in best):
        return best
    video = next((o for o in wider if o.mode == "telehealth"), None)
    return [*best, video] if video is not None else best


def portal_choices(session: Session, *, patient_id: str, clock: Clock) -> AccessOffer | None:
    """The offer the portal shows: the patient's open one, else a new one (the finder's best
    three, with a video alternative where a service allows it); None when nothing fits."""
    now = clock.now()
    existing = current_offer(session, patient_id=patient_id, now=now)
    if existing is not None:
        return existing
    wider = find_offers(session, patient_id=patient_id, now=now, limit=10)
    offers = _with_video_alternative(wider[:3], wider)
    if not offers:
        return None
    return open_offer(session, offers=offers, patient_id=patient_id, now=now, kind=PORTAL_OFFER)


def patient_offer(session: Session, *, patient_id: str, offer_id: str, clock: Clock) -> AccessOffer:
    """The patient's own open offer (another patient's is not found)."""
    offer = session.get(AccessOffer, offer_id)
    if (
        offer is None
        or offer.patient_id != patient_id
        or offer.state != "open"
        or offer.expires_at <= clock.now()
    ):
        raise InvalidInput("those times are no longer on offer; pick again", field="offer")
    return offer


def patient_booking(session: Session, *, patient_id: str, booking_id: str) -> AccessBooking:
    booking = session.get(AccessBooking, booking_id)
    if booking is None or booking.patient_id != patient_id or booking.state not in bookings.LIVE:
        raise NotFound("no such visit")
    return booking


def cancel_visit(
    session: Session,
    *,
    booking: AccessBooking,
    clock: Clock,
    principal: Principal,
    settings: Settings,
    moving: bool = False,
) -> None:
    """Cancel the visit (the slot goes to the waitlist; the caregiver who comes along is told);
    when ``moving``, the portal then shows new choices."""
    bookings.cancel(session, booking=booking, clock=clock, principal=principal)
    backfill(session, slot_id=booking.slot_id, clock=clock, settings=settings)
    companions.tell_companions(
        session,
        booking=booking,
        message=companions.MOVING if moving else companions.CANCELLED,
        clock=clock,
        settings=settings,
    )
