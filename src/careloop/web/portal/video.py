"""Where a video visit's reminder lands: ``/portal/video/<appointment id>``.

The telehealth reminder links here (``outreach.telehealth_link``) when the Appointment names
no call of its own. The patient or their caregiver signs in as for any portal page and comes
back here; the page names the visit (what, when in the patient's zone and language) and
offers the join button: the Appointment's own address (``fhirdata.visits``'s
``telehealth-link`` extension), else ``access.video_join_url`` with ``{booking}``; with
neither, it says the care team starts the call. The id is an Appointment's (a careloop
booking's id is its Appointment's); one that is not the patient's is a 404 like an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from careloop.access.directory import visit_labels
from careloop.access.links import when_label
from careloop.audit import AuditAction
from careloop.errors import NotFound
from careloop.fhirdata.references import reference_of
from careloop.fhirdata.visits import visit_facts
from careloop.models import FhirResource
from careloop.outreach.config import outreach_settings
from careloop.settings import Settings
from careloop.web.deps import ClockDep, SessionDep, SettingsDep, audit_patient_access
from careloop.web.portal.page import open_page

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class VideoVisit:
    """What the page shows of one visit."""

    when: str
    what: str | None
    video: bool
    cancelled: bool
    over: bool
    join_url: str | None


def _appointment(session: Session, booking_id: str) -> tuple[dict[str, Any] | None, str | None]:
    """The Appointment and its patient's careloop id (the record's own ``Patient/<id>`` is the
    EHR's; the import resolved it to ours)."""
    row = session.get(FhirResource, ("Appointment", booking_id[:128]))
    return (row.resource, row.patient_id) if row is not None else (None, None)


def _start(appointment: dict[str, Any], key: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(appointment.get(key) or ""))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def join_url(appointment: dict[str, Any], settings: Settings) -> str | None:
    """The record's own call address, else the configured template, else None."""
    own = visit_facts(appointment).telehealth_link
    if own and own.startswith(("https://", "http://")):  # never a javascript: link
        return own
    template = settings.access.video_join_url
    return template.replace("{booking}", str(appointment["id"])) if template else None


@router.get("/portal/video/{booking_id}", response_class=HTMLResponse)
def video_page(
    booking_id: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> HTMLResponse:
    appointment, owner = _appointment(session, booking_id)
    # Sign-in comes first (and back here after it); then someone else's visit is a 404.
    page = open_page(request, session, clock, owner, permission="visits:write")
    if appointment is None or owner is None:
        raise NotFound("no such visit")
    audit_patient_access(session, clock, page.principal, owner, AuditAction.READ, "appointment")
    start, end = _start(appointment, "start"), _start(appointment, "end")
    video = visit_facts(appointment).visit == "telehealth"
    slot = next((reference_of(s) or "" for s in appointment.get("slot") or []), "")
    mode = "telehealth" if video else "in-person"
    what = visit_labels(
        session, [(booking_id, slot.removeprefix("Slot/"), mode)], language=page.language
    ).get(booking_id)
    visit = VideoVisit(
        when=when_label(start, zone=page.context["viewer_zone"], language=page.language)
        if start is not None
        else "",
        what=what,
        video=video,
        cancelled=appointment.get("status") in ("cancelled", "noshow", "entered-in-error"),
        over=(end or start) is not None and (end or start) < clock.now(),  # type: ignore[operator]
        join_url=join_url(appointment, settings) if video else None,
    )
    return page.show(
        "portal/video.html",
        "visits",
        visit=visit,
        clinic_phone=outreach_settings(settings)[0].clinic_phone,
    )
