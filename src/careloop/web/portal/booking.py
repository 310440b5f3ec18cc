"""The self-scheduling page behind a signed link: pick one of the offered times.

No sign-in: the link's token (random offer id + HMAC, expiring with the offer) is the
capability, and the page shows times only, never a name or a diagnosis. A POST books the
choice; a time taken meanwhile shows the page again with a notice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse

from careloop.access.booking import SlotTaken
from careloop.access.links import book_from_link, open_link
from careloop.records.service import get_patient_record
from careloop.web.deps import ClockDep, SessionDep, SettingsDep, SigningKeyDep
from careloop.web.portal.confirmation import confirmation_words
from careloop.web.portal.i18n import translator
from careloop.web.portal.page import render_page

router = APIRouter(include_in_schema=False)


@router.get("/portal/book/{token}", response_class=HTMLResponse)
def booking_page(
    request: Request, token: str, session: SessionDep, clock: ClockDep, key: SigningKeyDep
) -> HTMLResponse:
    linked = open_link(session, key=key, token=token, clock=clock)
    return render_page(
        request,
        "portal/book.html",
        {"choices": linked.choices, "token": token, "taken": False, "booked": None},
        language=linked.language,
    )


@router.post("/portal/book/{token}", response_class=HTMLResponse)
def book_slot(
    request: Request,
    token: str,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    settings: SettingsDep,
    choice: Annotated[int, Form(ge=1, le=20)],
) -> HTMLResponse:
    linked = open_link(session, key=key, token=token, clock=clock)
    try:
        with session.begin_nested():
            booking = book_from_link(
                session, key=key, token=token, choice=choice, clock=clock, settings=settings
            )
    except SlotTaken:
        return render_page(
            request,
            "portal/book.html",
            {"choices": linked.choices, "token": token, "taken": True, "booked": None},
            language=linked.language,
            status_code=409,
        )
    chosen = linked.choices[choice - 1]
    zone = get_patient_record(session, patient_id=booking.patient_id, timeline_limit=0).timezone
    confirmation = confirmation_words(
        session,
        booking_id=booking.id,
        t=translator(linked.language),
        zone=zone,
        language=linked.language,
    )
    return render_page(
        request,
        "portal/book.html",
        {
            "choices": [],
            "token": token,
            "taken": False,
            "booked": chosen,
            "confirmation": confirmation,
        },
        language=linked.language,
    )
