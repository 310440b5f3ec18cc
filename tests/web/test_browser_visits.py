"""The signed-in portal's visits page on a phone: pick a time (a video visit is among the
choices), see it booked, move it (new times to pick), cancel it; the slot is free again."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.models import AccessBooking, FhirResource
from tests.access.fhir_fixtures import import_resources, location, schedule, slot
from tests.web.conftest import Site, portal_sign_in, screenshot

SATURDAY = datetime(2026, 3, 7, 16, 0, tzinfo=UTC)  # 11:00 in New York: no workday clash


def _slots(site: Site, tmp_path: Path) -> None:
    import_resources(
        site.runtime,
        tmp_path,
        [
            location(),
            schedule("visits-video", service="visits-test", virtual=True),
            slot("visits-video-1", schedule_id="visits-video", start=SATURDAY),
        ],
    )


def _booking(site: Site) -> AccessBooking | None:
    with site.runtime.transaction() as session:
        row = session.scalar(
            select(AccessBooking)
            .where(
                AccessBooking.patient_id == site.portal_patient,
                AccessBooking.slot_id == "visits-video-1",
            )
            .order_by(AccessBooking.created_at.desc())
        )
        if row is not None:
            session.expunge(row)
        return row


def _slot_status(site: Site) -> str | None:
    with site.runtime.transaction() as session:
        return session.scalar(
            select(FhirResource.status).where(
                FhirResource.resource_type == "Slot", FhirResource.fhir_id == "visits-video-1"
            )
        )


def test_a_patient_books_moves_and_cancels_a_visit_on_a_phone(
    phone_page: Any, site: Site, tmp_path: Path
) -> None:
    _slots(site, tmp_path)
    portal_sign_in(phone_page, site)

    phone_page.get_by_role("link", name="Visits").click()
    phone_page.get_by_role("heading", name="My visits").wait_for()
    video = phone_page.get_by_label("Saturday 7 March, 11:00 AM — video visit")
    video.check()
    screenshot(phone_page, "portal-visits")
    phone_page.get_by_role("button", name="Book this time").click()

    phone_page.get_by_text("Your visit is booked.").wait_for()
    booked = _booking(site)
    assert booked is not None
    assert (booked.state, booked.mode, booked.channel) == ("booked", "telehealth", "portal")
    assert _slot_status(site) == "busy"

    phone_page.get_by_role("button", name="Change the time").click()
    phone_page.get_by_role("button", name="Book this time").wait_for()
    assert _slot_status(site) == "free"
    phone_page.get_by_label("Saturday 7 March, 11:00 AM — video visit").check()
    phone_page.get_by_role("button", name="Book this time").click()
    phone_page.get_by_text("Your visit is booked.").wait_for()

    phone_page.get_by_role("button", name="Cancel this visit").click()
    phone_page.get_by_text("Your visit is cancelled.").wait_for()
    cancelled = _booking(site)
    assert cancelled is not None
    assert cancelled.state == "cancelled"
    assert _slot_status(site) == "free"
    # Fits the phone: nothing wider than the screen.
    assert phone_page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
