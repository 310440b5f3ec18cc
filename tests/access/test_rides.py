"""Rides: a booking that needs one plans it (pickup = start − buffer), the job requests it from
the provider, and a ride that falls through before pickup puts a task on the worklist."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.access.rides import (
    TRAVEL_BUFFER,
    FakeRides,
    HttpRides,
    ProviderUnavailable,
    RideRequest,
    dispatch_rides,
    plan_ride,
    ride_by_external_id,
    run_rides,
    update_ride_status,
)
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner, configured_jobs
from careloop.models import AccessRide
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR, SYSTEM_WORKER
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
        ride = ride_by_external_id(session, f"fake-{ride_id}")
        assert ride.status == "requested"
        assert update_ride_status(session, ride=ride, status="no-driver", clock=clock)
    with rt.transaction() as session:
        items = list_worklist(session, now=clock.now())
    assert [(i.rule_id, i.patient_id) for i in items] == [("access-ride-failed", "p-001")]


def test_a_completed_ride_raises_nothing(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    ride_id = _booked_with_ride(rt, tmp_path)
    with rt.transaction() as session:
        dispatch_rides(session, provider=FakeRides(), clock=clock)
        ride = ride_by_external_id(session, f"fake-{ride_id}")
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


def _ride(rt: Runtime) -> AccessRide:
    with rt.transaction() as session:
        [ride] = session.scalars(select(AccessRide)).all()
        session.expunge(ride)
        return ride


def test_a_visit_called_off_cancels_its_ride_with_the_provider(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """The driver must not come for a visit that is off: the patient's cancel marks the
    requested ride ``cancelling`` (no call inside the patient's transaction) and the next run
    cancels it at the provider, without a task (nothing fell through)."""
    ride_id = _booked_with_ride(rt, tmp_path)
    provider = FakeRides()
    with rt.transaction() as session:
        assert (
            run_rides(session, provider=provider, clock=clock, principal=SYSTEM_WORKER)["requested"]
            == 1
        )
    with rt.transaction() as session:
        booking = bookings.get_booking(session, _ride(rt).booking_id)
        bookings.cancel(session, booking=booking, clock=clock, principal=CLI_OPERATOR)
    assert _ride(rt).status == "cancelling"
    assert provider.cancelled == []

    with rt.transaction() as session:
        done = run_rides(session, provider=provider, clock=clock, principal=SYSTEM_WORKER)

    assert done == {"requested": 0, "cancelled": 1, "provider": "fake"}
    assert provider.cancelled == [f"fake-{ride_id}"]
    assert _ride(rt).status == "cancelled"
    with rt.transaction() as session:
        assert list_worklist(session, now=clock.now()) == []


def test_a_provider_that_is_down_keeps_what_was_already_requested(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """Two rides to request, the broker answers the first and then 503: the first stays
    recorded (no second request of it on the next run), the second waits, nobody gets a task."""
    _booked_with_ride(rt, tmp_path)
    second = START + timedelta(days=1)
    import_resources(
        rt, tmp_path, [patient("p-002"), slot("s-2", schedule_id="sch-1", start=second)]
    )
    with rt.transaction() as session:
        booked = bookings.book(
            session,
            patient_id="p-002",
            offer=Offer("s-2", second, second + timedelta(minutes=30), "in-person", True, "t"),
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        plan_ride(session, booking=booked, now=rt.clock.now())
    posts: list[str] = []

    def broker(request: httpx.Request) -> httpx.Response:
        posts.append(json.loads(request.content)["rider_ref"])
        if len(posts) == 1:
            return httpx.Response(201, json={"ride_id": "R-1"})
        return httpx.Response(503)

    client = httpx.Client(base_url="https://broker.test", transport=httpx.MockTransport(broker))
    with rt.transaction() as session:
        done = run_rides(
            session,
            provider=HttpRides(client, callback_url="x"),
            clock=clock,
            principal=SYSTEM_WORKER,
        )

    assert (done["requested"], posts) == (1, ["Patient/p-001", "Patient/p-002"])
    with rt.transaction() as session:
        rows = session.execute(select(AccessRide.patient_id, AccessRide.status)).tuples()
        statuses = dict(rows.all())
        assert statuses == {"p-001": "requested", "p-002": "pending"}
        assert list_worklist(session, now=clock.now()) == []


def test_the_http_adapter_reads_no_answer_as_unavailable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = httpx.Client(base_url="https://broker.test", transport=httpx.MockTransport(down))
    adapter = HttpRides(client, callback_url="x")
    ride = RideRequest("ride-1", "Patient/p-1", START - TRAVEL_BUFFER, START, "Appointment/a-1")
    with pytest.raises(ProviderUnavailable):
        adapter.request(ride)
    with pytest.raises(ProviderUnavailable):
        adapter.cancel("R-1")


def test_the_ride_dispatch_job_requests_what_bookings_need(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """Under ``careloop serve`` or a worker, no one has to run ``dispatch-rides`` by hand."""
    _booked_with_ride(rt, tmp_path)
    [job] = [j for j in configured_jobs(rt) if j.name == "ride-dispatch"]

    outcomes = JobRunner(rt, [job], owner="w1").run_due()

    assert [(o.name, o.status, o.result) for o in outcomes] == [
        (
            "ride-dispatch",
            "ok",
            {"requested": 1, "cancelled": 0, "provider": "fake", "rechecked": 0, "followed": 0},
        )
    ]
    assert _ride(rt).status == "requested"
