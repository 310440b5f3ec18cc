"""A ride broker's status webhook: verify it, read it, apply it, tell the patient.

The generic broker (``rides.HttpRides``) posts one JSON event per status change, shaped like
the non-emergency transport brokers' callbacks::

    POST /webhooks/rides
    X-Ride-Timestamp: 1772560800
    X-Ride-Signature: v1=<hex HMAC-SHA256(webhook_secret, "<timestamp>.<raw body>")>

    {"event_id": "evt_1", "event_type": "ride.status_changed",
     "occurred_at": "2026-03-03T19:40:00Z",
     "ride": {"id": "<broker's ride id>", "external_ref": "<our ride id>",
              "status": "driver_assigned", "pickup_time": "2026-03-03T20:00:00Z"}}

The broker's words are mapped onto :data:`rides.STATUSES` (:data:`BROKER_STATUSES`). A ride
that reached ``completed``, ``failed`` or ``cancelled`` stays there (a late, out-of-order
event changes nothing), and the same status twice is applied once. A confirmed ride tells the
patient the pickup time (``ride_booked``); one that falls through before pickup tells them the
care team is on it (``ride_fell_through``) and raises the coordinators' task
(``rides.update_ride_status``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.access.offers import drop_ride_notice
from careloop.access.rides import FAILED, STATUSES, update_ride_status, withdrawn_at_provider
from careloop.access.sending import send_ride_booked, send_ride_fell_through
from careloop.clock import Clock
from careloop.db import one_or_missing
from careloop.errors import InvalidInput, PermissionDenied
from careloop.models import AccessBooking, AccessRide
from careloop.settings import RidesSettings, Settings

SIGNATURE_HEADER = "X-Ride-Signature"
TIMESTAMP_HEADER = "X-Ride-Timestamp"
BROKER_STATUSES = {
    "scheduled": "confirmed",
    "accepted": "confirmed",
    "driver_assigned": "confirmed",
    "en_route": "en-route",
    "arrived": "en-route",
    "picked_up": "picked-up",
    "in_progress": "picked-up",
    "dropped_off": "completed",
    "canceled": "cancelled",
    "no_driver": "no-driver",
    "unfulfilled": "no-driver",
}
"""Broker words → ours; our own words (``rides.STATUSES``) are accepted as they are, except
``cancelling``, which only careloop sets (it is waiting to tell the broker)."""
REPORTABLE = tuple(s for s in STATUSES if s != "cancelling")
FINAL = frozenset({"completed", *FAILED})


@dataclass(frozen=True, slots=True)
class RideEvent:
    event_id: str
    ride_ref: str | None
    broker_id: str | None
    status: str


@dataclass(frozen=True, slots=True)
class RideEventOutcome:
    ride_id: str
    status: str
    applied: bool
    task_raised: bool


def sign(secret: str, *, timestamp: str, body: bytes) -> str:
    """The ``X-Ride-Signature`` value for ``body`` (the broker computes the same)."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def verify_signature(
    settings: RidesSettings,
    *,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: datetime,
) -> None:
    """Raise :class:`PermissionDenied` unless the broker signed ``body`` recently."""
    secret = settings.webhook_secret
    if secret is None or not timestamp or not signature:
        raise PermissionDenied("ride webhook not signed")
    try:
        sent = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (ValueError, OverflowError):
        raise PermissionDenied("ride webhook not signed") from None
    if abs((now - sent).total_seconds()) > settings.webhook_tolerance_seconds:
        raise PermissionDenied("ride webhook too old")
    expected = sign(secret.get_secret_value(), timestamp=timestamp, body=body)
    if not hmac.compare_digest(expected, signature.strip()):
        raise PermissionDenied("invalid ride webhook signature")


def _text(mapping: dict[str, Any], key: str, *, field: str) -> str | None:
    value = mapping.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{field} must be a non-empty string", field=field)
    return value


def parse_event(body: bytes) -> RideEvent:
    """Read one webhook body; :class:`InvalidInput` names the field that is wrong."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise InvalidInput("the body is not JSON", field="body") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("ride"), dict):
        raise InvalidInput("ride must be an object", field="ride")
    ride: dict[str, Any] = doc["ride"]
    raw = _text(ride, "status", field="ride.status")
    status = BROKER_STATUSES.get(raw or "", raw)
    if status not in REPORTABLE:
        raise InvalidInput(
            f"ride.status must be one of {', '.join(sorted({*REPORTABLE, *BROKER_STATUSES}))}",
            field="ride.status",
        )
    ride_ref = _text(ride, "external_ref", field="ride.external_ref")
    broker_id = _text(ride, "id", field="ride.id")
    if ride_ref is None and broker_id is None:
        raise InvalidInput("ride.external_ref or ride.id is required", field="ride.external_ref")
    return RideEvent(
        event_id=_text(doc, "event_id", field="event_id") or "",
        ride_ref=ride_ref,
        broker_id=broker_id,
        status=status,
    )


def _find(session: Session, event: RideEvent) -> AccessRide:
    """Our ride by our reference when the event carries it (it must be ours), else by the
    broker's id."""
    query = select(AccessRide).with_for_update()
    if event.ride_ref is not None:
        query = query.where(AccessRide.id == event.ride_ref)
    else:
        query = query.where(AccessRide.external_id == event.broker_id)
    return one_or_missing(session, query, "no such ride")


def apply_event(
    session: Session, *, event: RideEvent, clock: Clock, settings: Settings
) -> RideEventOutcome:
    """Apply the broker's status to the ride and tell the patient what changed for them."""
    ride = _find(session, event)
    if ride.status == event.status or ride.status in FINAL:
        return RideEventOutcome(ride.id, ride.status, applied=False, task_raised=False)
    if ride.status == "cancelling":
        # The visit is off and we are cancelling: the provider's own cancellation settles it
        # (nothing fell through); any other news is stale and must not bring the ride back.
        if event.status != "cancelled":
            return RideEventOutcome(ride.id, ride.status, applied=False, task_raised=False)
        withdrawn_at_provider(session, ride=ride, clock=clock)
        return RideEventOutcome(ride.id, ride.status, applied=True, task_raised=False)
    task = update_ride_status(session, ride=ride, status=event.status, clock=clock)
    booking = session.get(AccessBooking, ride.booking_id)
    if booking is not None and booking.state == "booked":
        if event.status == "confirmed":
            send_ride_booked(
                session, booking=booking, pickup_at=ride.pickup_at, clock=clock, settings=settings
            )
        elif event.status in FAILED and task:
            drop_ride_notice(session, booking_id=booking.id, now=clock.now())
            send_ride_fell_through(session, booking=booking, clock=clock, settings=settings)
    return RideEventOutcome(ride.id, ride.status, applied=True, task_raised=task)
