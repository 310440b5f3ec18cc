"""The appointments page: upcoming bookings, offers in flight, rides and the waitlist (issue
"Access"). Patients by name, times labelled in the clinic's zone (a bare UTC column read as
local time); each row links to the patient's page. One audit event names the patients shown.
Each list shows :data:`~careloop.access.board.PAGE_SIZE` rows a page with its total; one
``page`` parameter pages them all."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from careloop.access.board import PAGE_SIZE, board
from careloop.audit import Auditor, Purpose
from careloop.web.console.pages import ConsoleView, PageNumber, viewer

router = APIRouter(include_in_schema=False)


@router.get("/console/appointments", response_class=HTMLResponse)
def appointments_page(
    view: Annotated[ConsoleView, viewer("appointments:read", what="appointments")],
    page: PageNumber,
) -> Response:
    now = view.clock.now()
    shown = board(view.session, now=now, page=page)
    Auditor(view.session, view.clock, view.principal, Purpose.TREATMENT).read(
        "appointments", shown.patient_ids
    )
    return view.render(
        "console/appointments.html",
        {
            "section": "appointments",
            "board": shown,
            "now": now,
            "first": page * PAGE_SIZE + 1,
            "pages": {
                "previous": f"/console/appointments?page={page - 1}" if page else None,
                "next": f"/console/appointments?page={page + 1}" if shown.more else None,
            },
        },
    )
