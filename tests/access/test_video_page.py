"""The page a video visit's reminder links to (``/portal/video/<id>``), on both databases:
it names the visit in the patient's language and zone, offers the join button from the
record or the configured address, says who starts the call when there is none, says when
the visit is cancelled, and is a 404 for anyone else's visit."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from careloop.access import booking as bookings
from careloop.access.service import find_offers
from careloop.clock import FrozenClock
from careloop.fhirdata.visits import TELEHEALTH_LINK_EXTENSION, VIRTUAL_EXTENSION
from careloop.models import AccessBooking
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot
from tests.access.test_reminders import PHONE
from tests.access.test_reminders import _book as book_for_journey
from tests.access.test_reminders import _seed as seed_journey
from tests.access.test_reminders import _utc as utc
from tests.outreach.conftest import sync_content

Client = Callable[..., Any]
START = datetime(2026, 3, 5, 22, tzinfo=UTC)  # Thursday 5 March, 5:00 PM in New York


def _video_visit(rt: Runtime, tmp_path: Path, *, language: str = "en") -> AccessBooking:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001", language=language),
            patient("p-002"),
            location(),
            schedule("sch-video", service="mammography", virtual=True),
            slot("s-video", schedule_id="sch-video", start=START),
        ],
    )
    with rt.transaction() as session:
        [offer] = find_offers(session, patient_id="p-001", now=rt.clock.now())
        return bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="portal",
        )


def test_the_reminders_link_opens_the_visit_and_says_who_starts_the_call(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Client
) -> None:
    visit = seed_journey(
        rt, clock, tmp_path, slot("s-video", schedule_id="sch-1", start=utc(5, 22)), video=True
    )
    booked = book_for_journey(rt, clock, "s-video")
    visit.run_journey(until=utc(5, 21))
    [(_, text), *_] = visit.received(PHONE)
    path = re.search(r"http://127\.0\.0\.1:8000(/portal/video/\S+)", text)
    assert path is not None, text

    page = api_client("patient", patient_id="p-001").get(path.group(1))

    assert page.status_code == 200, page.text
    assert f"/portal/video/{booked.id}" == path.group(1)
    assert "Thursday 5 March, 5:00 PM" in page.text
    assert "Your care team will start the call" in page.text
    assert "(555) 010-0199" in page.text
    assert 'id="video-join"' not in page.text


def test_the_join_button_is_the_configured_address_else_the_records_own(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    booked = _video_visit(rt, tmp_path)
    rt.settings.access.video_join_url = "https://meet.example.org/room/{booking}"
    client = api_client("patient", patient_id="p-001")

    page = client.get(f"/portal/video/{booked.id}")
    assert f'href="https://meet.example.org/room/{booked.id}"' in page.text
    assert "Thursday 5 March, 5:00 PM" in page.text

    own = {
        "resourceType": "Appointment",
        "id": "ehr-video-1",
        "status": "booked",
        "start": START.isoformat(),
        "end": START.replace(hour=23).isoformat(),
        "participant": [{"actor": {"reference": "Patient/p-001"}, "status": "accepted"}],
        "extension": [
            {"url": VIRTUAL_EXTENSION, "valueBoolean": True},
            {"url": TELEHEALTH_LINK_EXTENSION, "valueUrl": "https://ehr.example.org/v/77"},
        ],
    }
    import_resources(rt, tmp_path, [own])
    ehr = client.get("/portal/video/ehr-video-1")
    assert ehr.status_code == 200, ehr.text
    assert 'href="https://ehr.example.org/v/77"' in ehr.text
    assert "meet.example.org" not in ehr.text


def test_a_cancelled_visit_says_so_in_the_patients_language(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    booked = _video_visit(rt, tmp_path, language="es")
    sync_content(rt)
    with rt.transaction() as session:
        row = session.get(AccessBooking, booked.id)
        assert row is not None
        bookings.cancel(session, booking=row, clock=rt.clock, principal=CLI_OPERATOR)

    page = api_client("patient", patient_id="p-001").get(f"/portal/video/{booked.id}")

    assert page.status_code == 200, page.text
    assert "Esta cita está cancelada" in page.text
    assert "jueves 5 de marzo, 17:00" in page.text
    assert 'id="video-join"' not in page.text


def test_another_patients_visit_is_a_404_and_signing_in_comes_back_here(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    booked = _video_visit(rt, tmp_path)

    other = api_client("patient", patient_id="p-002")
    assert other.get(f"/portal/video/{booked.id}").status_code == 404
    assert other.get("/portal/video/no-such-visit").status_code == 404
    anonymous = api_client(None).get(f"/portal/video/{booked.id}", follow_redirects=False)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == (
        f"/portal/sign-in?next=%2Fportal%2Fvideo%2F{booked.id}"
    )


def test_signing_in_returns_only_to_a_portal_page(rt: Runtime, api_client: Client) -> None:
    anonymous = api_client(None)

    back = anonymous.get("/portal/sign-in?next=%2Fportal%2Fvideo%2Fabc")
    away = anonymous.get("/portal/sign-in?next=https%3A%2F%2Fevil.example%2Fportal")

    assert 'name="next" value="/portal/video/abc"' in back.text
    assert 'name="next" value="/portal"' in away.text
