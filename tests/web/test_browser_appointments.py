"""Walk findings 3 and 20 in Chromium: a visit booked at one of several places says what and
where on the portal's visits page and on the console (appointments page, patient page), never
its slot id; the console gives each time in the clinic's zone and, where the patient's clock
reads differently, in theirs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.models import AccessBooking
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, patient
from tests.web.conftest import Site, portal_sign_in, sign_in

THURSDAY = datetime(2026, 3, 5, 20, 0, tzinfo=UTC)  # 15:00 in New York, 14:00 in Chicago
SERVICE = "Screening mammogram"
PLACE = "South imaging center"


def _places(site: Site, tmp_path: Path) -> None:
    schedule = {
        "resourceType": "Schedule",
        "id": "walk3-mammo-south",
        "active": True,
        "serviceType": [
            {"coding": [{"system": "http://example.org/services", "code": "mammo-walk3",
                         "display": SERVICE}]}
        ],
        "actor": [{"reference": "Location/walk3-south"}],
    }  # fmt: skip
    slots = [
        {
            "resourceType": "Slot",
            "id": f"walk3-mammo-south-{n}",
            "schedule": {"reference": "Schedule/walk3-mammo-south"},
            "status": "free",
            "start": (THURSDAY + timedelta(hours=n)).isoformat(),
            "end": (THURSDAY + timedelta(hours=n, minutes=30)).isoformat(),
        }
        for n in (0, 1)
    ]
    import_resources(
        site.runtime,
        tmp_path,
        [
            patient("walk3-chicago", zone="America/Chicago"),
            {"resourceType": "Location", "id": "walk3-south", "name": PLACE},
            schedule,
            *slots,
        ],
    )


def _book(site: Site, patient_id: str, slot_id: str, start: datetime) -> AccessBooking:
    offer = Offer(slot_id, start, start + timedelta(minutes=30), "in-person", False, "test")
    with site.runtime.transaction() as session:
        booked = bookings.book(
            session,
            patient_id=patient_id,
            offer=offer,
            clock=site.runtime.clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        session.flush()
        session.expunge(booked)
        return booked


@pytest.fixture
def booked(site: Site, tmp_path: Path) -> Iterator[tuple[AccessBooking, AccessBooking]]:
    """One visit for a patient in Chicago, one for the portal's patient; both cancelled after,
    so the other browser tests find the site as they left it."""
    _places(site, tmp_path)
    theirs = _book(site, "walk3-chicago", "walk3-mammo-south-0", THURSDAY)
    mine = _book(site, site.portal_patient, "walk3-mammo-south-1", THURSDAY + timedelta(hours=1))
    yield theirs, mine
    with site.runtime.transaction() as session:
        for row in (theirs, mine):
            live = session.get(AccessBooking, row.id)
            if live is not None:
                bookings.cancel(session, booking=live, clock=site.runtime.clock,
                                principal=CLI_OPERATOR)  # fmt: skip


def test_the_console_names_the_service_and_place_and_the_patients_time(
    page: Any, site: Site, booked: tuple[AccessBooking, AccessBooking]
) -> None:
    theirs, _ = booked
    sign_in(page, site, "coordinator")
    page.goto("/console/appointments")
    row = page.locator(f"#booking-{theirs.id}")
    row.wait_for()
    text = row.inner_text()
    assert f"{SERVICE} · {PLACE}" in text
    assert "walk3-mammo-south-0" not in page.content()  # finding 3: the slot id said nothing
    assert "2026-03-05 15:00 EST · 14:00 CST patient's time" in text  # finding 20

    page.goto("/console/patients/walk3-chicago")
    page.get_by_role("heading", name="Appointments and orders").wait_for()
    assert (
        f"{SERVICE} · {PLACE}"
        in page.locator("section", has_text="Appointments and orders").inner_text()
    )


def test_the_portal_visits_page_says_what_and_where_a_visit_is(
    phone_page: Any, site: Site, booked: tuple[AccessBooking, AccessBooking]
) -> None:
    _, mine = booked
    portal_sign_in(phone_page, site)
    phone_page.goto("/portal/visits")
    visit = phone_page.locator(f"#visit-{mine.id}")
    visit.wait_for()
    assert f"{SERVICE} · {PLACE}" in visit.inner_text()
