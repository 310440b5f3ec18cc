"""The push to a configured EHR endpoint (conditional updates, retried, never duplicated),
and bookings: Appointment, Slot and Schedule served from the record, the bookings topic
firing for an Appointment written into it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from pydantic import SecretStr

from careloop.clock import FrozenClock
from careloop.fhir import delivery
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from careloop.settings import FhirSettings, Settings
from tests.feedback.loop_payloads import blood_pressure
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.fhir.receiver import Receiver, receiver
from tests.fhir.test_subscriptions import _status, subscription

ID_SYSTEM = "https://careloop.dev/fhir/NamingSystem/resource-id"


@pytest.fixture
def ehr() -> Iterator[Receiver]:
    yield from receiver()


def _push_to(rt: Runtime, url: str, **more: Any) -> None:
    rt.settings = Settings(
        database_url=rt.settings.database_url,
        fhir=FhirSettings(
            ehr_push_url=url,
            ehr_push_token=SecretStr("ehr-token"),
            subscription_backoff_seconds=10,
            **more,
        ),
    )


def test_what_careloop_learns_is_pushed_as_conditional_updates_retried_once_each(
    fhir_server: FhirServer, ehr: Receiver, clock: FrozenClock, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    add_patients(rt, tmp_path, "push-1")
    base = ehr.url.removesuffix("/hook") + "/fhir"
    _push_to(rt, base, ehr_push_types=["Flag"])
    delivery.run(rt, clock.now())  # configured: changes from now on are pushed
    clock.advance(timedelta(minutes=1))
    with fhir_server.http("clinician") as http:
        http.post("/Observation", json=blood_pressure("push-1", 192, 104, clock.now()))
    ehr.statuses = [503]
    clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())
    clock.advance(timedelta(seconds=10))
    delivery.run(rt, clock.now())
    delivery.run(rt, clock.now())

    first, retried = ehr.requests
    assert first.body == retried.body
    assert (retried.method, retried.headers["authorization"]) == ("PUT", "Bearer ehr-token")
    target = urlsplit(retried.path)
    assert target.path == "/fhir/Flag"
    (criteria,) = parse_qs(target.query)["identifier"]
    flag = valid(retried.json())
    assert "id" not in flag
    assert {"system": ID_SYSTEM, "value": criteria.split("|")[1]} in flag["identifier"]
    assert criteria.startswith(ID_SYSTEM + "|alert-")
    assert flag["subject"] == {"reference": "Patient/push-1"}

    _push_to(rt, "")  # switched off: nothing more is sent
    with fhir_server.http("clinician") as http:
        http.post("/Observation", json=blood_pressure("push-1", 195, 110, clock.now()))
    clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())
    assert len(ehr.requests) == 2


def _import(rt: Runtime, tmp_path: Path, *resources: dict[str, Any]) -> None:
    path = tmp_path / f"{resources[0]['id']}.json"
    bundle = {"resourceType": "Bundle", "type": "collection"}
    bundle["entry"] = [{"resource": r} for r in resources]
    path.write_bytes(orjson.dumps(bundle))
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )


SCHEDULE = {
    "resourceType": "Schedule",
    "id": "sched-1",
    "active": True,
    "actor": [{"reference": "Practitioner/dr-1"}],
    "planningHorizon": {"start": "2026-03-01", "end": "2026-03-31"},
}
SLOTS = [
    {
        "resourceType": "Slot",
        "id": f"slot-{n}",
        "schedule": {"reference": "Schedule/sched-1"},
        "status": status,
        "start": f"2026-03-1{n}T09:00:00Z",
        "end": f"2026-03-1{n}T09:30:00Z",
    }
    for n, status in ((1, "free"), (2, "busy"))
]


def booking(pid: str, appointment_id: str) -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": appointment_id,
        "status": "booked",
        "start": "2026-03-12T09:00:00Z",
        "end": "2026-03-12T09:30:00Z",
        "slot": [{"reference": "Slot/slot-2"}],
        "participant": [
            {"actor": {"reference": f"Patient/{pid}"}, "status": "accepted"},
            {"actor": {"reference": "Practitioner/dr-1"}, "status": "accepted"},
        ],
    }


def test_bookings_are_served_and_fire_the_bookings_topic(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    add_patients(rt, tmp_path, "book-1")
    _import(rt, tmp_path, SCHEDULE, *SLOTS)
    hook = next(receiver_iter := receiver())
    try:
        with fhir_server.http("clinician") as http:
            body = subscription(hook.url, criteria="bookings")
            assert http.post("/Subscription", json=body).status_code == 201
            delivery.run(rt, clock.now())
            clock.advance(timedelta(minutes=1))
            _import(rt, tmp_path, booking("book-1", "appt-1"))  # as the booking flow writes it
            clock.advance(timedelta(minutes=1))
            delivery.run(rt, clock.now())

            free = valid(
                http.get("/Slot", params={"schedule": "Schedule/sched-1", "status": "free"}).json()
            )
            assert [e["resource"]["id"] for e in free["entry"]] == ["slot-1"]
            assert valid(http.get("/Schedule/sched-1").json())["active"] is True
            mine = valid(http.get("/Appointment", params={"patient": "book-1"}).json())
            assert [e["resource"]["id"] for e in mine["entry"]] == ["appt-1"]
            slots = valid(http.get("/Slot", params={"start": "ge2026-03-12"}).json())
            assert [e["resource"]["id"] for e in slots["entry"]] == ["slot-2"]
        _handshake, event = hook.requests
        assert _status(event.json())["type"] == "event-notification"
        assert valid(event.json())["entry"][1]["resource"]["id"] == "appt-1"
    finally:
        next(receiver_iter, None)
