"""What a patient does with their visits themselves: pick an offered time, move or cancel.

Shared by the signed link (``links``) and the signed-in portal page: booking a choice confirms
to the patient (``visit_booked``), tells the caregiver who comes along, and plans the ride
(``ride_booked`` once it is arranged); cancelling frees the slot for the waitlist and tells
the caregiver; moving puts new choices in front of the patient and keeps the visit booked
until one of them is.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.access import booking as bookings
from careloop.access import companions
from careloop.access.directory import home_of, offered_in_portal, places_of
from careloop.access.finder import Offer
from careloop.access.moves import book_choice
from careloop.access.offers import choices_of, open_links, open_offer
from careloop.access.rides import plan_ride
from careloop.access.sending import (
    SentOffer,
    send_booked,
    send_cancelled,
    send_offer,
    send_ride_booked,
)
from careloop.access.service import find_offers
from careloop.access.service_names import service_code
from careloop.access.waitlist import backfill
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind, list_events
from careloop.models import AccessBooking, AccessOffer
from careloop.programs.definition import load_programs
from careloop.records.service import get_patient
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
    if options[choice - 1].start <= now:  # a link stays open for weeks; its times do not
        raise bookings.SlotTaken("that time has passed")
    booked = book_choice(
        session,
        offer=offer,
        chosen=options[choice - 1],
        now=now,
        clock=clock,
        principal=principal,
        channel=channel,
        settings=settings,
    )
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


def gap_services(program: str) -> frozenset[str]:
    """What a program's care gap is booked as: its ``services`` (the directory's service
    codes). A program that names none, or that the shipped library does not hold, is not
    booked online; the care team arranges it."""
    found = load_programs().get(program)
    return frozenset(found.definition.services) if found is not None else frozenset()


def open_gap_programs(session: Session, *, patient_id: str) -> set[str]:
    """The programs whose latest care gap for the patient (an ``eligible`` with a reason) has
    not been closed by a ``completed`` since."""
    kinds = (EventKind.ELIGIBLE, EventKind.COMPLETED)
    due: set[str] = set()
    for event in list_events(session, patient_id=patient_id, kinds=kinds):
        if event.kind == EventKind.COMPLETED:
            due.discard(event.program or "")
        elif (event.payload or {}).get("reason"):
            due.add(event.program or "")
    return due


def due_services(session: Session, *, patient_id: str, now: datetime) -> frozenset[str]:
    """The services the patient may book in the portal: those of an open care gap, and those
    an open scheduling link is for (a newcomer's first visits)."""
    gaps = open_gap_programs(session, patient_id=patient_id)
    wanted = {code for program in gaps for code in gap_services(program)}
    for link in open_links(session, patient_id=patient_id, now=now):
        if link.service:
            wanted.add(link.service)
    return frozenset(wanted)


def services_due_or_named(
    session: Session, *, patient_id: str, now: datetime, service: str | None = None
) -> frozenset[str]:
    """What a coordinator's offer (``schedule offer``, ``schedule send-offer``) is for: the
    service named (a code or its name, :func:`service_code`), else the services the patient
    is due for (:func:`due_services`), as the portal shows them. The times of every schedule
    put a visit the patient does not need one reply away (a man booked for a mammogram); due
    for none, the coordinator is asked to name one."""
    get_patient(session, patient_id)  # an unknown patient is that, not "due for nothing"
    if service is not None:
        return frozenset({service_code(session, service)})
    services = due_services(session, patient_id=patient_id, now=now)
    if not services:
        raise InvalidInput(
            "the patient is due for no service booked online; name one with --service",
            field="service",
        )
    return services


def send_due_offer(
    session: Session,
    *,
    patient_id: str,
    clock: Clock,
    settings: Settings,
    limit: int = 3,
    service: str | None = None,
) -> SentOffer:
    """A coordinator's offer: the best times of :func:`services_due_or_named`. The text names
    no service ("reply 1 for Wed 3:45 PM")."""
    services = services_due_or_named(
        session, patient_id=patient_id, now=clock.now(), service=service
    )
    return send_offer(
        session,
        patient_id=patient_id,
        clock=clock,
        settings=settings,
        service=next(iter(services)) if service is not None else None,
        services=services,
        limit=limit,
    )


def portal_times(session: Session, *, patient_id: str, clock: Clock) -> list[Offer]:
    """The times the portal's visits page shows when no offer is open: the finder's best
    three (with a video alternative where a service allows it) among the services the patient
    is due for (:func:`due_services`; none when nothing is: a 25-year-old is never offered a
    mammogram), none at a place the directory rules out (a practice taking no new patients, a
    far pharmacy). Showing them stores nothing, so booking conversion counts only offers sent
    or picked from."""
    services = due_services(session, patient_id=patient_id, now=clock.now())
    if not services:
        return []
    wider = find_offers(
        session, patient_id=patient_id, now=clock.now(), services=services, limit=12
    )
    places = places_of(session, [o.slot for o in wider])
    home = home_of(session, patient_id=patient_id)
    fit = [o for o in wider if o.slot not in places or offered_in_portal(places[o.slot], home)]
    return _with_video_alternative(fit[:3], fit)


def portal_pick(
    session: Session, *, patient_id: str, shown: Sequence[str], slot: str, clock: Clock
) -> tuple[AccessOffer, int] | None:
    """The patient picked ``slot`` among the times ``shown``: store those still free as the
    portal offer (the patient acted on it) and return it with the pick's number; None when
    the picked time went meanwhile."""
    still = {o.slot: o for o in portal_times(session, patient_id=patient_id, clock=clock)}
    offers = [still[s] for s in dict.fromkeys(shown) if s in still]
    if slot not in still or not offers:
        return None
    row = open_offer(
        session, offers=offers, patient_id=patient_id, now=clock.now(), kind=PORTAL_OFFER
    )
    return row, [o.slot for o in offers].index(slot) + 1


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
) -> None:
    """Cancel the visit: the patient gets ``visit_cancelled``, the slot goes to the waitlist
    and the caregiver who comes along is told."""
    if booking.state not in bookings.LIVE:
        return
    bookings.cancel(session, booking=booking, clock=clock, principal=principal)
    send_cancelled(session, booking=booking, clock=clock, settings=settings)
    backfill(session, slot_id=booking.slot_id, clock=clock, settings=settings)
    companions.tell_companions(
        session, booking=booking, message=companions.CANCELLED, clock=clock, settings=settings
    )
