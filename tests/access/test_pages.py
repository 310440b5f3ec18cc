"""The console's appointments page and the portal's signed self-scheduling link."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.offers import link_token, open_offer
from careloop.access.rides import plan_ride
from careloop.access.service import find_offers
from careloop.crypto import signing_key
from careloop.models import AccessBooking, FhirResource, OutboxMessage, WaitlistEntry
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import (
    caregiver,
    import_resources,
    location,
    make_due,
    patient,
    schedule,
    slot,
)
from tests.outreach.conftest import sync_content

Client = Callable[..., Any]


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _seed(rt: Runtime, tmp_path: Path, language: str = "en") -> None:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001", language=language),
            caregiver("p-001", "p-001-wife"),
            patient("p-002"),
            location(),
            schedule("sch-1"),
            slot("s-tue", schedule_id="sch-1", start=_utc(3, 20, 45)),
            slot("s-thu", schedule_id="sch-1", start=_utc(5, 22)),
        ],
    )
    for pid in ("p-001", "p-002"):  # the portal lists its own times only for a due service
        make_due(rt, pid)


def _offer(rt: Runtime) -> str:
    with rt.transaction() as session:
        offers = find_offers(session, patient_id="p-001", now=rt.clock.now())
        row = open_offer(session, offers=offers, patient_id="p-001", now=rt.clock.now())
        return link_token(signing_key(rt.settings), row.id)


def test_the_console_shows_appointments_offers_rides_and_the_waitlist(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    _offer(rt)
    with rt.transaction() as session:
        [offer, *_] = find_offers(session, patient_id="p-001", now=rt.clock.now())
        booked = bookings.book(
            session,
            patient_id="p-002",
            offer=offer,
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        plan_ride(session, booking=booked, now=rt.clock.now())
        session.add(
            WaitlistEntry(
                patient_id="p-002",
                service="mammography",
                priority=2,
                noshow_risk=0.3,
                state="waiting",
                created_at=rt.clock.now(),
                updated_at=rt.clock.now(),
            )
        )

    page = api_client("coordinator").get("/console/appointments")

    assert page.status_code == 200
    assert f'id="booking-{booked.id}"' in page.text
    # Findings 18/20: one labelled zone, the clinic's, never bare UTC or raw ISO.
    assert "2026-03-03 15:45 EST" in page.text
    assert "20:45" not in page.text
    assert "+00:00" not in page.text
    assert 'id="offers"' in page.text
    assert 'href="/console/patients/p-001">Pat Test</a>' in page.text  # the offer, by name
    assert "pending" in page.text  # the ride not yet sent to the provider
    assert "30 %" in page.text  # the waitlist's no-show risk
    assert 'href="/console/appointments"' in page.text
    assert api_client("analyst").get("/console/appointments").status_code == 403


def test_a_signed_link_books_a_time_once(rt: Runtime, tmp_path: Path, api_client: Client) -> None:
    _seed(rt, tmp_path, language="es")
    sync_content(rt)
    token = _offer(rt)
    browser = api_client(None)

    page = browser.get(f"/portal/book/{token}")
    assert page.status_code == 200
    assert "martes 3 de marzo, 15:45" in page.text
    assert "Test" not in page.text  # no name on a page anyone with the link can open

    done = browser.post(f"/portal/book/{token}", data={"choice": "2"})
    assert done.status_code == 200
    assert "Su cita está reservada: jueves 5 de marzo, 17:00" in done.text
    with rt.transaction() as session:
        [booked] = session.scalars(select(AccessBooking)).all()
        assert (booked.slot_id, booked.state, booked.channel) == ("s-thu", "booked", "link")
        slot_row = session.get(FhirResource, ("Slot", "s-thu"))
        assert slot_row is not None
        assert slot_row.status == "busy"
        confirmations = dict(
            session.execute(select(OutboxMessage.content_message, OutboxMessage.body)).all()
        )
    assert "Main clinic" in confirmations["visit_booked"]  # finding 3: says where

    assert browser.get(f"/portal/book/{token}").status_code == 422  # answered: the link is spent


def test_a_forged_link_opens_nothing(rt: Runtime, tmp_path: Path, api_client: Client) -> None:
    _seed(rt, tmp_path)
    token = _offer(rt)
    offer_id = token.split(".")[0]

    forged = api_client(None).get(f"/portal/book/{offer_id}.AAAAAAAAAAAA")

    assert forged.status_code == 422
    assert "15:45" not in forged.text
