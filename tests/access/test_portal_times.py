"""The portal visits page's own list of times, on both databases: looking stores no offer (the
booking figures count offers sent or picked from), every time says where, a place the
directory rules out is never listed, and the list stays at hand once a visit is booked."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from careloop.access.metrics import access_metrics
from careloop.cli.demo_directory import directory_resources, home_address
from careloop.clock import FrozenClock
from careloop.models import AccessBooking, AccessOffer
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources, make_due, patient
from tests.access.test_portal_visits import Client, book_from_page
from tests.outreach.conftest import sync_content

PLACES = (
    "North Street Family Medicine",
    "East Imaging Center",
    "West Imaging Center",
    "South Women's Health",
    "Corner Pharmacy",
)


def _seed(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    newcomer = patient("p-new")
    newcomer["address"] = [home_address()]
    import_resources(rt, tmp_path, [newcomer, *directory_resources(clock.now())])
    for program in ("annual-wellness-visit", "breast-cancer-screening", "flu-shot-this-season"):
        make_due(rt, "p-new", program)
    sync_content(rt)


def _metrics(rt: Runtime, clock: FrozenClock) -> dict[str, object]:
    with rt.transaction() as session:
        return access_metrics(
            session, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(days=1)
        )


def test_the_visits_page_lists_where_and_only_places_that_fit(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, clock, tmp_path)
    client = api_client("patient", patient_id="p-new")

    page = client.get("/portal/visits")
    client.get("/portal/visits")

    assert page.status_code == 200
    shown = re.findall(r'name="shown" value="([^"]+)"', page.text)
    assert len(shown) == 3
    assert not [s for s in shown if s.startswith(("sch-dr-full", "sch-flu-far"))]
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", page.text)
    assert len(labels) == 3
    assert all(any(f" — {place}" in label for place in PLACES) for label in labels), labels
    assert "Highway Pharmacy" not in page.text
    with rt.transaction() as session:
        assert session.scalar(select(func.count()).select_from(AccessOffer)) == 0
    assert _metrics(rt, clock)["offers"] == 0

    assert book_from_page(client, choice=2).status_code == 303

    with rt.transaction() as session:
        [booking] = session.scalars(select(AccessBooking)).all()
    assert booking.slot_id == shown[1]
    assert (_metrics(rt, clock)["offers"], _metrics(rt, clock)["booked"]) == (1, 1)
    again = client.get("/portal/visits")
    assert f'id="visit-{booking.id}"' in again.text
    assert 'id="book-another"' in again.text  # another need stays bookable
    assert booking.slot_id not in re.findall(r'name="shown" value="([^"]+)"', again.text)


def test_times_follow_the_services_each_open_gap_names(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Client
) -> None:
    newcomer = patient("p-due")
    newcomer["address"] = [home_address()]
    import_resources(rt, tmp_path, [newcomer, *directory_resources(clock.now())])
    sync_content(rt)
    client = api_client("patient", patient_id="p-due")

    # hypertension-control names no services: the care team arranges its visits
    make_due(rt, "p-due", "hypertension-control")
    page = client.get("/portal/visits")
    assert 'data-testid="nothing-due"' in page.text
    assert 'name="shown"' not in page.text

    # flu-shot-this-season names the flu-shot service: only flu-shot times are listed
    make_due(rt, "p-due", "flu-shot-this-season")
    page = client.get("/portal/visits")
    labels = re.findall(r"<label[^>]*>([^<]+)</label>", page.text)
    assert labels
    assert all("Flu shot" in label for label in labels), labels
