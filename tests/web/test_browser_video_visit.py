"""The video visit page on a 360 px phone in Chromium: the reminder's link asks the patient
to sign in, comes back to the visit, and shows its time and what to do, nothing cut off."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from careloop.access import booking as bookings
from careloop.access.service import find_offers
from careloop.models import AccessBooking
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, schedule, slot
from tests.web.conftest import NOW, Site, fresh_code


@pytest.fixture
def small_phone(browser: Any, site: Site) -> Iterator[Any]:
    context = browser.new_context(
        base_url=site.url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _video_booking(site: Site, folder: Path) -> str:
    start = NOW.replace(hour=15, minute=0, second=0, microsecond=0) + timedelta(days=3)
    import_resources(
        site.runtime,
        folder,
        [
            schedule("video-360-sch", service="phone-video-360", virtual=True),
            slot("video-360-slot", schedule_id="video-360-sch", start=start),
        ],
    )
    with site.runtime.transaction() as session:
        offers = find_offers(
            session, patient_id=site.portal_patient, now=NOW, service="phone-video-360"
        )
        [offer] = [o for o in offers if o.slot == "video-360-slot"]
        return bookings.book(
            session,
            patient_id=site.portal_patient,
            offer=offer,
            clock=site.runtime.clock,
            principal=CLI_OPERATOR,
            channel="portal",
        ).id


@pytest.fixture
def video_booking(site: Site, tmp_path: Path) -> Iterator[str]:
    """The booking, cancelled afterwards: the site is shared by the session, and a visit left
    booked would change what the portal patient's visits page shows in the next test."""
    booking_id = _video_booking(site, tmp_path)
    yield booking_id
    with site.runtime.transaction() as session:
        row = session.get(AccessBooking, booking_id)
        assert row is not None
        bookings.cancel(session, booking=row, clock=site.runtime.clock, principal=CLI_OPERATOR)


def test_the_reminders_link_signs_in_and_lands_on_the_visit_at_360px(
    small_phone: Any, site: Site, video_booking: str
) -> None:
    booking = video_booking
    page = small_phone

    page.goto(f"/portal/video/{booking}?lang=en")
    page.wait_for_url("**/portal/sign-in?next=*")
    before = len(site.code_sender.sent)
    page.get_by_label("Your mobile number or email", exact=True).fill(site.portal_phone)
    page.get_by_role("button", name="Send me a code").click()
    digits = "".join(ch for ch in site.portal_phone if ch.isdigit())
    wanted = "+" + (digits if len(digits) != 10 else "1" + digits)
    page.get_by_label("The 6-digit code").fill(fresh_code(site, wanted, before))
    page.get_by_role("button", name="Sign in").click()

    page.wait_for_url(f"**/portal/video/{booking}?lang=en")
    expect(page.get_by_role("heading", name="Your video visit")).to_be_visible()
    expect(page.locator("#video-when")).not_to_be_empty()
    team = page.locator("#video-team-starts")
    expect(team).to_contain_text("Your care team will start the call")
    box = team.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= box["x"] + box["width"] <= 360
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways at 360 px ({width} px wide)"
