"""The signed-in portal's visits page on a phone: pick a time (a video visit is among the
choices), see it booked, move it (new times to pick while the visit stays booked), cancel it
(only after "Yes, cancel"); both slots are free again."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.models import AccessBooking, FhirResource
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, make_due, schedule, slot
from tests.web.conftest import Site, portal_sign_in, screenshot

SATURDAY = datetime(2026, 3, 7, 16, 0, tzinfo=UTC)  # 11:00 in New York: no workday clash


def _slots(site: Site, tmp_path: Path) -> None:
    import_resources(
        site.runtime,
        tmp_path,
        [
            location(),
            schedule("visits-video", service="primary-care", virtual=True),
            slot("visits-video-1", schedule_id="visits-video", start=SATURDAY),
            slot("visits-video-2", schedule_id="visits-video", start=SATURDAY + timedelta(days=1)),
        ],
    )
    # The portal offers its own times only for what the patient is due for.
    make_due(site.runtime, site.portal_patient, "annual-wellness-visit")
    # The site is shared by the session: a visit another test left booked for the portal
    # patient would fold the list of times away ("Book another visit"), so none is left.
    with site.runtime.transaction() as session:
        for left in bookings.live_bookings(session, patient_id=site.portal_patient):
            bookings.cancel(session, booking=left, clock=site.runtime.clock, principal=CLI_OPERATOR)


def _booking(site: Site, slot_id: str = "visits-video-1") -> AccessBooking | None:
    with site.runtime.transaction() as session:
        row = session.scalar(
            select(AccessBooking)
            .where(
                AccessBooking.patient_id == site.portal_patient,
                AccessBooking.slot_id == slot_id,
            )
            .order_by(AccessBooking.created_at.desc())
        )
        if row is not None:
            session.expunge(row)
        return row


def _live_booking(site: Site) -> AccessBooking | None:
    with site.runtime.transaction() as session:
        row = session.scalar(
            select(AccessBooking).where(
                AccessBooking.patient_id == site.portal_patient, AccessBooking.state == "booked"
            )
        )
        if row is not None:
            session.expunge(row)
        return row


def _slot_status(site: Site, slot_id: str = "visits-video-1") -> str | None:
    with site.runtime.transaction() as session:
        return session.scalar(
            select(FhirResource.status).where(
                FhirResource.resource_type == "Slot", FhirResource.fhir_id == slot_id
            )
        )


def test_a_patient_books_moves_and_cancels_a_visit_on_a_phone(
    phone_page: Any, site: Site, tmp_path: Path
) -> None:
    _slots(site, tmp_path)
    portal_sign_in(phone_page, site)

    phone_page.get_by_role("link", name="Visits").click()
    phone_page.get_by_role("heading", name="My visits").wait_for()
    # The forms send their CSRF header through htmx: a tap before it has loaded is refused
    # (a loaded machine parsed the page well before running its deferred scripts).
    phone_page.wait_for_function("() => window.htmx !== undefined")
    video = phone_page.get_by_label(re.compile(r"Saturday 7 March, 11:00 AM.*video visit"))
    video.check()
    screenshot(phone_page, "portal-visits")
    phone_page.get_by_role("button", name="Book this time").click()

    notice = phone_page.locator("p.notice").first
    notice.wait_for(timeout=30_000)  # the booking sends its confirmation before answering
    assert notice.inner_text().startswith("Your visit is booked."), notice.inner_text()
    booked = _booking(site)
    assert booked is not None
    assert (booked.state, booked.mode, booked.channel) == ("booked", "telehealth", "portal")
    assert _slot_status(site) == "busy"

    phone_page.get_by_role("button", name="Change the time").click()
    phone_page.get_by_text("Your visit stays booked until you pick a new time.").wait_for()
    assert _slot_status(site) == "busy"  # nothing lost if the patient walks away now
    phone_page.get_by_role("button", name="Book this time").click()  # the best other time
    phone_page.get_by_text("Your visit is booked.").wait_for()
    assert (_booking(site) or booked).state == "cancelled"
    assert _slot_status(site) == "free"
    moved = _live_booking(site)
    assert moved is not None
    assert _slot_status(site, moved.slot_id) == "busy"

    phone_page.get_by_role("button", name="Cancel this visit").click()
    phone_page.get_by_text("Cancel this visit? The time goes to someone else.").wait_for()
    assert _live_booking(site) is not None  # one tap only asks: a mis-tap cancels nothing
    phone_page.get_by_role("button", name="Yes, cancel").click()
    phone_page.get_by_text("Your visit is cancelled.").wait_for()
    assert phone_page.get_by_text("Your visit stays booked until you pick a new time.").count() == 0
    assert _live_booking(site) is None
    assert _slot_status(site, moved.slot_id) == "free"
    # Fits the phone: nothing wider than the screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
