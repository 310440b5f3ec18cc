"""The signed-in portal's visits page: pick one of your offered times, move or cancel a visit.

The choices are the patient's open offer (the one texted to them, or new times for a visit
they asked to move, which stays booked until one is picked), else a new one from the finder
(best three, with a video visit where a service has one). Booking, moving and
cancelling go through ``access.self_service``, the same path as the signed link, so the
confirmations, the caregiver's copy, the ride and the waitlist follow as they do there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from careloop.access import self_service
from careloop.access.booking import SlotTaken, live_bookings
from careloop.access.directory import places_of, visit_labels
from careloop.access.links import label_offers, labelled_choices
from careloop.access.moves import moving_from, open_move
from careloop.access.offers import choices_of, current_offer, link_token, open_links
from careloop.audit import AuditAction
from careloop.crypto import signing_key
from careloop.errors import InvalidInput
from careloop.web.console.pages import after_post
from careloop.web.deps import PatientReach, SettingsDep
from careloop.web.portal.confirmation import confirmation_words
from careloop.web.portal.i18n import translator
from careloop.web.portal.page import PortalPage, portal_page, posted_for

router = APIRouter(include_in_schema=False)

VisitsPage = Annotated[PortalPage, Depends(portal_page("visits:write", audit_as="appointment"))]
Visitor = Annotated[PatientReach, posted_for("visits:write", max_length=128)]


@router.get("/portal/visits", response_class=HTMLResponse)
def visits_page(
    page: VisitsPage,
    settings: SettingsDep,
    done: str = "",
    taken: int = 0,
    booking: str = "",
    cancel: str = "",
) -> HTMLResponse:
    """``cancel=<visit>`` asks "Yes, cancel?" under that visit before anything changes."""
    session, patient_id = page.session, page.patient_id
    upcoming = [
        b for b in live_bookings(session, patient_id=patient_id) if b.start > page.clock.now()
    ]
    offer = current_offer(session, patient_id=patient_id, now=page.clock.now())
    # The move note only for a visit still booked: never under "Your visit is cancelled."
    moving = offer.booking_id if offer is not None and moving_from(offer) else None
    moving = moving if any(b.id == moving for b in upcoming) else None
    if offer is not None:
        choices = labelled_choices(session, offer, language=page.language)[1]
    else:  # nothing open: the best times, shown without storing an offer
        times = self_service.portal_times(session, patient_id=patient_id, clock=page.clock)
        choices = label_offers(
            session, patient_id=patient_id, offers=times, language=page.language
        )[1]
    return page.show(
        "portal/visits.html",
        "visits",
        upcoming=upcoming,
        where=visit_labels(
            session, [(b.id, b.slot_id, b.mode) for b in upcoming], language=page.language
        ),
        offer=offer,
        choices=choices,
        # No times because nothing is due (not because none are free): say so, not "call us".
        nothing_due=offer is None
        and not self_service.due_services(session, patient_id=patient_id, now=page.clock.now()),
        moving=moving,
        done=done if done in ("booked", "cancelled", "no-times") else "",
        # Only for one of the patient's own upcoming visits: sent, or when it will come.
        confirmation=confirmation_words(
            session,
            booking_id=booking,
            t=translator(page.language),
            zone=page.context["viewer_zone"],
            language=page.language,
        )
        if done == "booked" and any(b.id == booking for b in upcoming)
        else "",
        taken=bool(taken),
        confirm_cancel=cancel if any(b.id == cancel for b in upcoming) else "",
        links=scheduling_links(
            session,
            patient_id=patient_id,
            now=page.clock.now(),
            key=signing_key(settings),
            language=page.language,
        ),
    )


def scheduling_links(
    session: Session, *, patient_id: str, now: datetime, key: bytes, language: str
) -> list[PortalLink]:
    """The patient's open scheduling links (a new patient's first visits), where and when:
    in the page's language, and each time with its place where a link has several."""
    rows = open_links(session, patient_id=patient_id, now=now)
    if not rows:
        return []
    places = places_of(session, [c.slot for row in rows for c in choices_of(row)])
    links = []
    for row in rows:
        names = list(dict.fromkeys(
            str(places[c.slot].name) for c in choices_of(row) if places[c.slot].name
        ))  # fmt: skip
        choices = labelled_choices(session, row, language=language)[1]
        links.append(
            PortalLink(
                url=f"/portal/book/{link_token(key, row.id)}",
                places=names,
                times=[
                    f"{c.label} ({c.place})" if len(names) > 1 and c.place else c.label
                    for c in choices
                ],
            )
        )
    return links


@dataclass(frozen=True, slots=True)
class PortalLink:
    url: str
    places: list[str]
    times: list[str]


@router.post("/portal/visits/book")
def book_visit(
    request: Request,
    reach: Visitor,
    settings: SettingsDep,
    choice: Annotated[int, Form(ge=1, le=20)],
    offer: Annotated[str, Form(max_length=64)] = "",
    shown: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """Book a choice of the open offer ``offer``, or, with no offer, the ``choice``-th of the
    times ``shown`` (the page's own list, stored as an offer only now the patient picked)."""
    session, clock, principal = reach.session, reach.clock, reach.principal
    patient_id = reach.patient_id
    if offer:
        row = self_service.patient_offer(
            session, patient_id=patient_id, offer_id=offer, clock=clock
        )
    else:
        times = list(shown or [])[:20]
        if not 1 <= choice <= len(times):
            raise InvalidInput(f"choose a number from 1 to {len(times)}", field="choice")
        picked = self_service.portal_pick(
            session, patient_id=patient_id, shown=times, slot=times[choice - 1], clock=clock
        )
        if picked is None:
            return after_post(request, f"/portal/visits?patient={patient_id}&taken=1")
        row, choice = picked
    try:
        with session.begin_nested():
            booked = self_service.book_offered(
                session,
                offer=row,
                choice=choice,
                clock=clock,
                principal=principal,
                channel="portal",
                settings=settings,
            )
    except SlotTaken:
        return after_post(request, f"/portal/visits?patient={patient_id}&taken=1")
    reach.audit(AuditAction.CREATE, "appointment", detail={"booking": booked.id})
    return after_post(
        request, f"/portal/visits?patient={patient_id}&done=booked&booking={booked.id}"
    )


@router.post("/portal/visits/{booking_id}/{action}")
def change_visit(
    request: Request,
    reach: Visitor,
    booking_id: str,
    action: str,
    settings: SettingsDep,
    confirm: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """``cancel`` frees the time once confirmed (``confirm=yes``, the "Yes, cancel" button; a
    first tap only asks); ``move`` shows new times to pick from and keeps the visit booked
    until one of them is."""
    session, clock, principal = reach.session, reach.clock, reach.principal
    patient_id = reach.patient_id
    if action not in ("cancel", "move"):
        return Response(status_code=404)
    booking = self_service.patient_booking(session, patient_id=patient_id, booking_id=booking_id)
    if action == "cancel" and confirm != "yes":  # a mis-tap on a phone cancels nothing
        return after_post(request, f"/portal/visits?patient={patient_id}&cancel={booking.id}")
    if action == "move":
        if open_move(session, booking=booking, clock=clock) is None:
            return after_post(request, f"/portal/visits?patient={patient_id}&done=no-times")
    else:
        self_service.cancel_visit(
            session, booking=booking, clock=clock, principal=principal, settings=settings
        )
    reach.audit(AuditAction.UPDATE, "appointment", detail={"booking": booking.id, "action": action})
    done = "" if action == "move" else "&done=cancelled"
    return after_post(request, f"/portal/visits?patient={patient_id}{done}")
