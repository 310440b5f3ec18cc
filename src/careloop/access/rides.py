"""Rides to booked visits: the provider interface, its adapters, and what a status change does.

A booking that needs a ride gets an ``access_rides`` row at once (``pending``, pickup =
appointment start − :data:`TRAVEL_BUFFER`), in the booking's transaction; the provider is
called later by :func:`dispatch_rides` (a job), never inside a patient's reply. That is the
outbox's rule: no network call while holding a database transaction.

Adapters implement :class:`RideProvider` (request, status, cancel). :class:`FakeRides` records
every call and answers like a provider would; :class:`HttpRides` speaks a generic JSON API
shaped like the non-emergency medical transport brokers' (POST ``/rides`` with pickup time,
addresses by reference and a callback URL; GET ``/rides/{id}``; POST ``/rides/{id}/cancel``;
signed status webhooks, ``access.ride_webhooks``), chosen by the ``access.rides`` settings.
A ride that fails or is cancelled by the provider before pickup raises a task for the care
coordinators.

Lifecycle (``access_rides.status``)::

    pending --job--> requested --webhook--> confirmed --> en-route --> picked-up --> completed
       |                  |
       |                  +--provider--> failed / cancelled / no-driver (before pickup: a task)
       | visit off        | visit off (from requested, confirmed or en-route)
       v                  v
    cancelled <--job-- cancelling   (the job calls the provider's cancel)

A visit cancelled or moved withdraws its ride (:func:`withdraw_rides`, in the booking's
transaction): one never requested is cancelled at once; one the provider holds becomes
``cancelling`` and the next job run tells the provider (``cancel``), so no driver comes for a
visit that is off. A provider that is down or answers 5xx (:class:`ProviderUnavailable`) stops
the run and leaves the rest for the next one; what was already requested stays recorded.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.careteam.alerts import create_task
from careloop.clock import Clock
from careloop.db import one_or_missing
from careloop.errors import CareloopError, InvalidInput
from careloop.events import EventKind, record_event
from careloop.feedback.ruleset import Severity
from careloop.models import AccessBooking, AccessRide
from careloop.security.principal import Principal
from careloop.settings import ConfigurationError, RidesSettings

TRAVEL_BUFFER = timedelta(minutes=45)
STATUSES = ("pending", "requested", "confirmed", "en-route", "picked-up", "completed",
            "failed", "cancelled", "no-driver", "cancelling")  # fmt: skip
FAILED = frozenset({"failed", "cancelled", "no-driver"})
WITHDRAWN_AT_PROVIDER = frozenset({"requested", "confirmed", "en-route"})
"""A ride the provider holds: withdrawing it needs a call (``cancelling``, then the job)."""
ACTOR = "system:access"


class ProviderUnavailable(CareloopError):
    """The provider did not answer, or answered 5xx: try again on the next run (a refusal,
    4xx, is an ``InvalidInput``: the ride failed)."""


@dataclass(frozen=True, slots=True)
class RideRequest:
    """What a provider needs: no name or diagnosis, references and times only."""

    ride_id: str
    patient_ref: str
    pickup_at: datetime
    appointment_at: datetime
    destination_ref: str


class RideProvider(Protocol):
    name: str

    def request(self, ride: RideRequest) -> str:
        """Book the ride; return the provider's id for it. Raise ``InvalidInput`` if refused."""
        ...

    def status(self, external_id: str) -> str: ...

    def cancel(self, external_id: str) -> None: ...


@dataclass
class FakeRides:
    """A recording fake at the provider boundary: it stores requests and answers 'requested'."""

    name: str = "fake"
    requests: list[RideRequest] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)

    def request(self, ride: RideRequest) -> str:
        self.requests.append(ride)
        external = f"fake-{ride.ride_id}"  # unique across runs, as a provider's id is
        self.statuses[external] = "requested"
        return external

    def status(self, external_id: str) -> str:
        return self.statuses.get(external_id, "unknown")

    def cancel(self, external_id: str) -> None:
        self.cancelled.append(external_id)
        self.statuses[external_id] = "cancelled"


class HttpRides:
    """A generic NEMT broker over HTTPS (JSON, bearer token)."""

    name = "http"

    def __init__(self, client: httpx.Client, *, callback_url: str) -> None:
        self._client = client
        self._callback = callback_url

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; no answer or a 5xx is :class:`ProviderUnavailable` (try again later)."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ProviderUnavailable("ride provider did not answer") from exc
        if response.status_code >= 500:
            raise ProviderUnavailable(f"ride provider answered {response.status_code}")
        return response

    def request(self, ride: RideRequest) -> str:
        response = self._send(
            "POST",
            "/rides",
            json={
                "external_ref": ride.ride_id,
                "rider_ref": ride.patient_ref,
                "pickup_time": ride.pickup_at.isoformat(),
                "appointment_time": ride.appointment_at.isoformat(),
                "destination_ref": ride.destination_ref,
                "callback_url": self._callback,
            },
        )
        if response.status_code >= 400:
            raise InvalidInput(
                f"ride provider refused the ride ({response.status_code})", field="ride"
            )
        return str(response.json()["ride_id"])

    def status(self, external_id: str) -> str:
        response = self._send("GET", f"/rides/{external_id}")
        response.raise_for_status()
        return str(response.json()["status"])

    def cancel(self, external_id: str) -> None:
        self._send("POST", f"/rides/{external_id}/cancel").raise_for_status()


def provider_from_settings(settings: RidesSettings, *, public_base_url: str) -> RideProvider:
    """The configured provider: the recording fake, or the HTTP broker with its callback at
    ``<public_base_url>/webhooks/rides``."""
    if settings.provider == "fake":
        return FakeRides()
    if not settings.base_url or settings.api_token is None:
        raise ConfigurationError(
            "access.rides.provider=http needs access.rides.base_url and access.rides.api_token"
        )
    client = httpx.Client(
        base_url=settings.base_url,
        headers={"Authorization": f"Bearer {settings.api_token.get_secret_value()}"},
        timeout=settings.timeout_seconds,
    )
    return HttpRides(client, callback_url=f"{public_base_url.rstrip('/')}/webhooks/rides")


def plan_ride(session: Session, *, booking: AccessBooking, now: datetime) -> AccessRide:
    """A pending ride for a booking that needs one (sent to the provider by the next job)."""
    ride = AccessRide(
        id=str(uuid.uuid4()),
        booking_id=booking.id,
        patient_id=booking.patient_id,
        provider="pending",
        status="pending",
        pickup_at=booking.start - TRAVEL_BUFFER,
        created_at=now,
        updated_at=now,
    )
    session.add(ride)
    session.flush()
    return ride


def dispatch_rides(
    session: Session, *, provider: RideProvider, clock: Clock, sent: list[str] | None = None
) -> list[str]:
    """Request every pending ride from ``provider``; return the ride ids requested. ``sent``
    collects every ride the provider was sent, the ones it refused (4xx) too."""
    now = clock.now()
    pending = session.execute(
        select(AccessRide, AccessBooking)
        .join(AccessBooking, AccessBooking.id == AccessRide.booking_id)
        .where(AccessRide.status == "pending")
        .order_by(AccessRide.pickup_at)
        .with_for_update(of=AccessRide, skip_locked=True)
    ).all()
    done: list[str] = []
    for ride, booking in pending:
        if booking.state != "booked":
            ride.status, ride.updated_at = "cancelled", now
            continue
        try:
            ride.external_id = provider.request(
                RideRequest(
                    ride_id=ride.id,
                    patient_ref=f"Patient/{ride.patient_id}",
                    pickup_at=ride.pickup_at,
                    appointment_at=booking.start,
                    destination_ref=f"Appointment/{booking.id}",
                )
            )
        except InvalidInput:
            # Refused, but the provider got the patient's reference and visit time.
            if sent is not None:
                sent.append(ride.id)
            update_ride_status(session, ride=ride, status="failed", clock=clock)
            continue
        except ProviderUnavailable:
            break  # the rest wait for the next run; the rides requested so far stay recorded
        ride.provider, ride.status, ride.updated_at = provider.name, "requested", now
        done.append(ride.id)
    session.flush()
    return done


def withdraw_rides(session: Session, *, booking_id: str, clock: Clock) -> None:
    """The visit is off (cancelled or moved): its ride is not needed. One never requested is
    cancelled here; one the provider holds becomes ``cancelling`` for the next run of
    :func:`cancel_withdrawn_rides` (no provider call inside the patient's transaction)."""
    for ride in rides_of_booking(session, booking_id):
        if ride.status == "pending":
            _set_status(session, ride=ride, status="cancelled", clock=clock)
        elif ride.status in WITHDRAWN_AT_PROVIDER:
            _set_status(session, ride=ride, status="cancelling", clock=clock)


def cancel_withdrawn_rides(session: Session, *, provider: RideProvider, clock: Clock) -> list[str]:
    """Tell the provider about every ride withdrawn since the last run; return their ids."""
    withdrawn = session.scalars(
        select(AccessRide)
        .where(AccessRide.status == "cancelling")
        .order_by(AccessRide.pickup_at)
        .with_for_update(skip_locked=True)
    ).all()
    done: list[str] = []
    for ride in withdrawn:
        if ride.external_id is not None:
            try:
                provider.cancel(ride.external_id)
            except ProviderUnavailable:
                break
        withdrawn_at_provider(session, ride=ride, clock=clock)
        done.append(ride.id)
    session.flush()
    return done


def withdrawn_at_provider(session: Session, *, ride: AccessRide, clock: Clock) -> None:
    """A ride we withdrew is cancelled at the provider (our call, or its webhook saying so)."""
    _set_status(session, ride=ride, status="cancelled", clock=clock)


def run_rides(
    session: Session, *, provider: RideProvider, clock: Clock, principal: Principal
) -> dict[str, Any]:
    """One run of the ride job (``ride-dispatch``, ``careloop schedule dispatch-rides``):
    withdrawn rides cancelled at the provider, then pending ones requested. Each patient whose
    ride (their reference and visit time) went to the provider is audited as sent there, by
    ``principal`` (the job, or the operator at the terminal)."""
    cancelled = cancel_withdrawn_rides(session, provider=provider, clock=clock)
    refused: list[str] = []
    requested = dispatch_rides(session, provider=provider, clock=clock, sent=refused)
    told = sorted(
        set(
            session.scalars(
                select(AccessRide.patient_id).where(
                    AccessRide.id.in_(requested + cancelled + refused)
                )
            )
        )
    )
    if told:
        Auditor(session, clock, principal, Purpose.TREATMENT)(
            AuditAction.SEND, "ride", told, detail={"provider": provider.name}
        )
    return {"requested": len(requested), "cancelled": len(cancelled), "provider": provider.name}


def _set_status(session: Session, *, ride: AccessRide, status: str, clock: Clock) -> None:
    """Our own change of a ride (no task: nothing fell through), recorded as an event."""
    ride.status, ride.updated_at = status, clock.now()
    record_event(
        session,
        kind=EventKind.RIDE_UPDATED,
        clock=clock,
        actor=ACTOR,
        patient_id=ride.patient_id,
        subject_type="ride",
        subject_id=ride.id,
        payload={"status": status},
    )


def ride_by_external_id(session: Session, external_id: str) -> AccessRide:
    query = select(AccessRide).where(AccessRide.external_id == external_id)
    return one_or_missing(session, query, "no such ride")


def update_ride_status(session: Session, *, ride: AccessRide, status: str, clock: Clock) -> bool:
    """Apply a provider's status; a failure before pickup puts a task on the worklist.

    Returns True when a task was raised.
    """
    if status not in STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
    now = clock.now()
    _set_status(session, ride=ride, status=status, clock=clock)
    if status in FAILED and now < ride.pickup_at + timedelta(minutes=15):
        create_task(
            session,
            patient_id=ride.patient_id,
            rule_id="access-ride-failed",
            title="Ride to a visit fell through",
            summary=f"The ride provider reported '{status}' before pickup: arrange another ride "
            "or move the visit.",
            severity=Severity.HIGH,
            clock=clock,
            actor=ACTOR,
            team="care-coordination",
            values={"ride": ride.id, "booking": ride.booking_id},
        )
        return True
    session.flush()
    return False


def rides_of_booking(session: Session, booking_id: str) -> list[AccessRide]:
    return list(session.scalars(select(AccessRide).where(AccessRide.booking_id == booking_id)))


def describe(ride: AccessRide) -> dict[str, Any]:
    return {
        "ride": ride.id,
        "booking": ride.booking_id,
        "status": ride.status,
        "pickup_at": ride.pickup_at.isoformat(),
        "provider": ride.provider,
    }
