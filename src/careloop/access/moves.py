"""An early offer to move a booking the no-show model scores high risk, and the move itself.

The appointment journey hands the offer off (``reschedule-offer`` step, see
``outreach.handoffs.RescheduleOffer``) days before the visit; :func:`offer_new_time` puts the
finder's best other times in front of the patient through the ordinary offer path (an
``access_offers`` row of kind :data:`MOVE`, the words ``reschedule_offer`` queued by
``outreach.requests.request_message``: consent, channel, the patient's send window, quiet
hours); the portal's "Change the time" opens the same kind of offer (:func:`open_move`).
Nothing changes unless they answer: a reply "2" (or a click on the signed link) books
the new time like any offer (:func:`book_choice`), then cancels the old booking, frees its
slot for the waitlist and tells the caregiver who came along. A move offer's ``booking_id``
names the booking it would move until it is answered, then the booking it made.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.access import booking as bookings
from careloop.access import companions
from careloop.access.finder import Offer, distinct_times
from careloop.access.offers import mark_answered, open_offer
from careloop.access.sending import SentOffer, queue_offer
from careloop.access.service import MAX_LIMIT, find_offers
from careloop.access.slots import slot_services
from careloop.access.waitlist import backfill
from careloop.clock import Clock
from careloop.models import AccessBooking, AccessOffer
from careloop.security.principal import Principal
from careloop.settings import Settings

MOVE = "move"
PURPOSE = "care-reminders"


MoveOffer = SentOffer


def offer_new_time(
    session: Session,
    *,
    patient_id: str,
    appointment_id: str,
    message: str,
    clock: Clock,
    settings: Settings,
    limit: int = 3,
) -> MoveOffer:
    """Offer other times for the patient's booked visit ``appointment_id`` (careloop's own
    booking, still ahead); the reason it was not offered in ``not_queued`` otherwise."""
    now = clock.now()
    booking = session.get(AccessBooking, appointment_id)
    if booking is None or booking.patient_id != patient_id:
        return MoveOffer(None, 0, None, not_queued="not-booked-here")
    if booking.state != "booked" or booking.start <= now:
        return MoveOffer(None, 0, None, not_queued="not-movable")
    made_by = session.get(AccessOffer, booking.offer_id) if booking.offer_id else None
    if made_by is not None and made_by.kind == MOVE:
        return MoveOffer(None, 0, None, not_queued="already-moved")  # once is enough
    return queue_offer(
        session,
        offers=other_times(session, booking=booking, now=now, limit=limit),
        patient_id=patient_id,
        message=message,
        now=now,
        clock=clock,
        settings=settings,
        kind=MOVE,
        moving=booking,
    )


def other_times(
    session: Session, *, booking: AccessBooking, now: datetime, limit: int
) -> list[Offer]:
    """The best other times for what ``booking`` is for (the same service, never another
    clinic's kind of visit), each at a different time: a text can only say "Mon 9:00 AM"."""
    services = slot_services(session, booking.slot_id) or None
    found = find_offers(
        session, patient_id=booking.patient_id, now=now, services=services, limit=MAX_LIMIT
    )
    return distinct_times([o for o in found if o.slot != booking.slot_id])[:limit]


def moving_from(offer: AccessOffer) -> str | None:
    """The booking a still-open move offer would move (read it before the offer is answered)."""
    return offer.booking_id if offer.kind == MOVE and offer.state == "open" else None


def book_choice(
    session: Session,
    *,
    offer: AccessOffer,
    chosen: Offer,
    now: datetime,
    clock: Clock,
    principal: Principal,
    channel: str,
    settings: Settings | None,
) -> AccessBooking:
    """Book one of an offer's choices and mark the offer answered. One path for a number
    texted back and a time picked in the portal or by a link;
    :class:`~careloop.access.booking.SlotTaken` if the time went meanwhile.

    For a move offer the old booking (if still live) is then cancelled and its slot offered to
    the waitlist. The caregiver is told once: one who comes to the new visit gets its
    confirmation (sent by the caller), one who only came to the old visit hears it is off."""
    moving = moving_from(offer)
    booked = bookings.book(
        session,
        patient_id=offer.patient_id,
        offer=chosen,
        clock=clock,
        principal=principal,
        channel=channel,
        offer_id=offer.id,
    )
    mark_answered(offer, booking_id=booked.id, now=now)
    old = session.get(AccessBooking, moving) if moving is not None else None
    if old is not None and old.state in bookings.LIVE:
        coming = set(companions.accompanying_caregivers(session, booking=booked))
        release(
            session, booking=old, clock=clock, principal=principal, settings=settings, skip=coming
        )
    return booked


def release(
    session: Session,
    *,
    booking: AccessBooking,
    clock: Clock,
    principal: Principal,
    settings: Settings | None,
    tell: str = companions.CANCELLED,
    skip: Collection[str] = (),
) -> None:
    """Cancel the booking and, with ``settings``, offer its slot to the waitlist and ``tell``
    the caregivers who came along (but those in ``skip``): one path for a cancel by reply and
    for the old booking of a move."""
    bookings.cancel(session, booking=booking, clock=clock, principal=principal)
    if settings is not None:
        backfill(session, slot_id=booking.slot_id, clock=clock, settings=settings)
        companions.tell_companions(
            session, booking=booking, message=tell, clock=clock, settings=settings, skip=skip
        )


def open_move(
    session: Session, *, booking: AccessBooking, clock: Clock, limit: int = 3
) -> AccessOffer | None:
    """New times for a visit the patient asked to move in the portal; the visit stays booked
    until one of them is (:func:`book_choice`), so leaving the page loses nothing."""
    now = clock.now()
    offers = other_times(session, booking=booking, now=now, limit=limit)
    if not offers:
        return None
    row = open_offer(session, offers=offers, patient_id=booking.patient_id, now=now, kind=MOVE)
    row.booking_id = booking.id
    return row
