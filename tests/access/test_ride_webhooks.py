"""The broker's signed status webhook: a confirmed ride tells the patient the pickup time, one
that falls through before pickup tells them and raises the coordinators' task; unsigned, stale
or malformed events change nothing. Both databases, through the HTTP endpoint."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.ride_webhooks import sign
from careloop.access.rides import FakeRides, dispatch_rides
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.models import AccessRide, OutboxMessage
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import AccessSettings, RidesSettings
from careloop.web.app import create_app
from tests.access.test_rides import _booked_with_ride
from tests.outreach.conftest import sync_content

SECRET = "broker-shared-secret"


def _client(rt: Runtime) -> TestClient:
    settings = rt.settings.model_copy(
        update={"access": AccessSettings(rides=RidesSettings(webhook_secret=SECRET))}
    )
    return TestClient(create_app(replace(rt, settings=settings)), raise_server_exceptions=False)


def _requested_ride(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> str:
    ride_id = _booked_with_ride(rt, tmp_path)
    sync_content(rt)
    with rt.transaction() as session:
        dispatch_rides(session, provider=FakeRides(), clock=clock)
    return ride_id


def _post(
    client: TestClient,
    clock: FrozenClock,
    event: dict[str, Any],
    *,
    secret: str = SECRET,
    age_seconds: int = 0,
) -> Any:
    body = json.dumps(event).encode()
    stamp = str(int(clock.now().timestamp()) - age_seconds)
    return client.post(
        "/webhooks/rides",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Ride-Timestamp": stamp,
            "X-Ride-Signature": sign(secret, timestamp=stamp, body=body),
        },
    )


def _event(ride_ref: str, status: str, event_id: str = "evt-1") -> dict[str, Any]:
    return {
        "event_id": event_id,
        "event_type": "ride.status_changed",
        "occurred_at": "2026-03-02T14:00:00Z",
        "ride": {"id": "fake-1", "external_ref": ride_ref, "status": status},
    }


def _patient_messages(rt: Runtime) -> list[tuple[str | None, str]]:
    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        return [(r.content_message, r.body) for r in rows]


def _status(rt: Runtime) -> str:
    with rt.transaction() as session:
        [status] = session.scalars(select(AccessRide.status)).all()
        return status


def test_a_confirmed_ride_tells_the_patient_the_pickup_time(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _requested_ride(rt, clock, tmp_path)
    client = _client(rt)

    answer = _post(client, clock, _event(ride_id, "driver_assigned"))

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"ride": ride_id, "status": "confirmed", "applied": True}
    assert _status(rt) == "confirmed"
    [(message, body)] = _patient_messages(rt)
    assert message == "ride_booked"
    assert "Tuesday at 3:00 PM" in body  # pickup 45 minutes before the 3:45 PM visit
    # The same event again (brokers retry) changes nothing and queues nothing more.
    again = _post(client, clock, _event(ride_id, "driver_assigned"))
    assert again.json()["applied"] is False
    assert len(_patient_messages(rt)) == 1


def test_a_ride_that_falls_through_raises_a_task_and_tells_the_patient(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _requested_ride(rt, clock, tmp_path)
    client = _client(rt)

    assert _post(client, clock, _event(ride_id, "no_driver")).status_code == 200

    with rt.transaction() as session:
        items = list_worklist(session, now=clock.now())
    assert [(i.rule_id, i.patient_id) for i in items] == [("access-ride-failed", "p-001")]
    [(message, body)] = _patient_messages(rt)
    assert message == "ride_fell_through"
    assert "We are finding another" in body
    # A late "driver assigned" does not revive a ride that fell through.
    late = _post(client, clock, _event(ride_id, "driver_assigned", "evt-2"))
    assert late.json() == {"ride": ride_id, "status": "no-driver", "applied": False}


def test_unsigned_stale_or_malformed_events_change_nothing(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _requested_ride(rt, clock, tmp_path)
    client = _client(rt)
    event = _event(ride_id, "no_driver")

    assert _post(client, clock, event, secret="guessed").status_code == 403
    assert _post(client, clock, event, age_seconds=3600).status_code == 403
    unsigned = client.post("/webhooks/rides", json=event)
    assert unsigned.status_code == 403
    bad = _post(client, clock, _event(ride_id, "teleported"))
    assert bad.status_code == 422
    assert "ride.status" in bad.text
    assert _post(client, clock, _event("no-such-ride", "no_driver")).status_code == 404
    assert _post(client, clock, {"ride": "x"}).status_code == 422

    assert _status(rt) == "requested"
    with rt.transaction() as session:
        assert list_worklist(session, now=clock.now()) == []
    # Without a configured secret the endpoint refuses everything.
    plain = TestClient(create_app(rt), raise_server_exceptions=False)
    assert _post(plain, clock, event).status_code == 403


def test_news_of_a_withdrawn_ride_does_not_bring_it_back(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """The patient cancelled; before the job tells the broker, its "driver assigned" arrives:
    not applied (no pickup time sent for a visit that is off). The broker's own "canceled"
    settles the ride without a task or a "fell through" message."""
    ride_id = _requested_ride(rt, clock, tmp_path)
    with rt.transaction() as session:
        booking_id = session.get_one(AccessRide, ride_id).booking_id
        booking = bookings.get_booking(session, booking_id)
        bookings.cancel(session, booking=booking, clock=clock, principal=CLI_OPERATOR)
    client = _client(rt)

    stale = _post(client, clock, _event(ride_id, "driver_assigned"))
    assert stale.json() == {"ride": ride_id, "status": "cancelling", "applied": False}
    assert _post(client, clock, _event(ride_id, "cancelling", "evt-2")).status_code == 422
    settled = _post(client, clock, _event(ride_id, "canceled", "evt-3"))

    assert settled.json() == {"ride": ride_id, "status": "cancelled", "applied": True}
    assert [m for m, _ in _patient_messages(rt)] == []
    with rt.transaction() as session:
        assert list_worklist(session, now=clock.now()) == []


def test_signed_events_are_never_rate_limited_and_forged_ones_are_after_the_burst(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """A broker retrying a burst of events from one address gets every one through; a flood
    of badly signed ones is refused, then answered 429 once the ``webhook`` burst is spent."""
    ride_id = _requested_ride(rt, clock, tmp_path)
    client = _client(rt)
    burst = 2 * rt.settings.security.webhook_per_second

    signed = [
        _post(client, clock, _event(ride_id, "driver_assigned", f"evt-{n}")).status_code
        for n in range(burst + 20)
    ]
    forged = [
        _post(client, clock, _event(ride_id, "no_driver"), secret="guess").status_code
        for _ in range(burst + 1)
    ]
    after = _post(client, clock, _event(ride_id, "driver_assigned", "evt-last"))

    assert signed == [200] * (burst + 20)
    assert forged == [403] * burst + [429]
    assert after.status_code == 200
    assert _status(rt) == "confirmed"


def test_a_pickup_time_still_queued_when_the_ride_falls_through_is_not_sent(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _requested_ride(rt, clock, tmp_path)
    client = _client(rt)
    assert _post(client, clock, _event(ride_id, "driver_assigned")).status_code == 200

    assert _post(client, clock, _event(ride_id, "no_driver", "evt-2")).status_code == 200

    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        fates = [(r.content_message, r.state, r.dead_reason) for r in rows]
    assert fates == [
        ("ride_booked", "dead", "visit-changed"),  # not "a ride will pick you up at 3:00"
        ("ride_fell_through", "queued", None),
    ]
