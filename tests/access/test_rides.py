"""Rides: a booking that needs one plans it (pickup = start − buffer), the job requests it from
the provider, and a ride that falls through before pickup puts a task on the worklist."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.access.rides import (
    TRAVEL_BUFFER,
    FakeRides,
    HttpRides,
    dispatch_rides,
    plan_ride,
    ride_by_external_id,
    update_ride_status,
)
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.models import AccessRide
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot

START = datetime(2026, 3, 3, 20, 45, tzinfo=UTC)


def _booked_with_ride(rt: Runtime, tmp_path: Path) -> str:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001"),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=START),
        ],
    )
    offer = Offer("s-1", START, START + timedelta(minutes=30), "in-person", True, "test")
    with rt.transaction() as session:
        booked = bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        ride = plan_ride(session, booking=booked, now=rt.clock.now())
        assert ride.pickup_at == START - TRAVEL_BUFFER
        return ride.id


def test_a_failed_ride_before_pickup_raises_a_task(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _booked_with_ride(rt, tmp_path)
    provider = FakeRides()
    with rt.transaction() as session:
        assert dispatch_rides(session, provider=provider, clock=clock) == [ride_id]
    [request] = provider.requests
    assert request.pickup_at == START - TRAVEL_BUFFER
    assert request.patient_ref == "Patient/p-001"  # references only, no name or address

    with rt.transaction() as session:
        ride = ride_by_external_id(session, "fake-1")
        assert ride.status == "requested"
        assert update_ride_status(session, ride=ride, status="no-driver", clock=clock)
    with rt.transaction() as session:
        items = list_worklist(session, now=clock.now())
    assert [(i.rule_id, i.patient_id) for i in items] == [("access-ride-failed", "p-001")]


def test_a_completed_ride_raises_nothing(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _booked_with_ride(rt, tmp_path)
    with rt.transaction() as session:
        dispatch_rides(session, provider=FakeRides(), clock=clock)
        ride = ride_by_external_id(session, "fake-1")
        assert not update_ride_status(session, ride=ride, status="completed", clock=clock)
    with rt.transaction() as session:
        assert list_worklist(session, now=clock.now()) == []


def test_a_cancelled_booking_never_reaches_the_provider(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _booked_with_ride(rt, tmp_path)
    with rt.transaction() as session:
        [ride] = session.scalars(select(AccessRide)).all()
        booking = bookings.get_booking(session, ride.booking_id)
        bookings.cancel(session, booking=booking, clock=clock, principal=CLI_OPERATOR)
    provider = FakeRides()
    with rt.transaction() as session:
        assert dispatch_rides(session, provider=provider, clock=clock) == []
        assert session.scalars(select(AccessRide.status)).all() == ["cancelled"]
    assert provider.requests == []


def test_the_http_adapter_speaks_the_brokers_json() -> None:
    seen: list[httpx.Request] = []

    def broker(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.method == "POST" and request.url.path == "/rides":
            return httpx.Response(201, json={"ride_id": "R-77", "status": "requested"})
        if request.url.path == "/rides/R-77":
            return httpx.Response(200, json={"ride_id": "R-77", "status": "confirmed"})
        return httpx.Response(204)

    client = httpx.Client(base_url="https://broker.test", transport=httpx.MockTransport(broker))
    adapter = HttpRides(client, callback_url="https://clinic.test/api/webhooks/rides")
    from careloop.access.rides import RideRequest

    ride = RideRequest("ride-1", "Patient/p-1", START - TRAVEL_BUFFER, START, "Appointment/a-1")
    assert adapter.request(ride) == "R-77"
    assert adapter.status("R-77") == "confirmed"
    adapter.cancel("R-77")

    body = json.loads(seen[0].content)
    assert body == {
        "external_ref": "ride-1",
        "rider_ref": "Patient/p-1",
        "pickup_time": "2026-03-03T20:00:00+00:00",
        "appointment_time": "2026-03-03T20:45:00+00:00",
        "destination_ref": "Appointment/a-1",
        "callback_url": "https://clinic.test/api/webhooks/rides",
    }
    assert [(r.method, r.url.path) for r in seen[1:]] == [
        ("GET", "/rides/R-77"),
        ("POST", "/rides/R-77/cancel"),
    ]
