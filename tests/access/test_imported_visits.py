"""The EHR moves or cancels a visit careloop booked with a ride: ``careloop import`` follows it
at once, so the ride is re-planned and requested for the new pickup, or withdrawn at the
provider, before the command returns. Before, the booking kept the old time and the ride the
old pickup until someone noticed. Both databases; the import, the ride job and the provider
(the configured recording fake) are the real ones."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select
from typer.testing import CliRunner

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.access.rides import TRAVEL_BUFFER, FakeRides, plan_ride, run_rides
from careloop.cli import app
from careloop.models import AccessBooking, AccessRide
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot

runner = CliRunner()


def _three_days_ahead() -> datetime:
    """20:45 UTC three days from now: the CLI runs on the real clock."""
    day = datetime.now(UTC).date() + timedelta(days=3)
    return datetime(day.year, day.month, day.day, 20, 45, tzinfo=UTC)


def _booked_with_a_requested_ride(rt: Runtime, tmp_path: Path, start: datetime) -> str:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001"),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=start),
        ],
    )
    offer = Offer("s-1", start, start + timedelta(minutes=30), "in-person", True, "test")
    now = datetime.now(UTC)
    with rt.transaction() as session:
        booked = bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        plan_ride(session, booking=booked, now=now)
        booking_id = booked.id
    with rt.transaction() as session:
        run_rides(session, provider=FakeRides(), clock=rt.clock, principal=CLI_OPERATOR)
    return booking_id


def _ehr_export(tmp_path: Path, booking_id: str, *, status: str, start: datetime) -> Path:
    """The EHR's next export of the Appointment careloop wrote (same id)."""
    appointment: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": booking_id,
        "status": status,
        "start": start.isoformat(),
        "end": (start + timedelta(minutes=30)).isoformat(),
        "participant": [{"actor": {"reference": "Patient/p-001"}, "status": "accepted"}],
    }
    path = tmp_path / "ehr" / "appointments.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": appointment}]}
    path.write_bytes(orjson.dumps(bundle))
    return path


def _import(rt: Runtime, path: Path) -> dict[str, Any]:
    url = rt.settings.database_url
    result = runner.invoke(app, ["import", str(path), "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def _rides(rt: Runtime) -> list[tuple[str, datetime, bool]]:
    """(status, pickup, sent to the provider) of every ride, oldest first."""
    with rt.transaction() as session:
        rows = session.scalars(select(AccessRide).order_by(AccessRide.created_at)).all()
        return [(r.status, r.pickup_at, r.external_id is not None) for r in rows]


def test_a_visit_the_ehr_moves_gets_its_ride_for_the_new_time_at_once(
    rt: Runtime, tmp_path: Path
) -> None:
    start = _three_days_ahead()
    booking_id = _booked_with_a_requested_ride(rt, tmp_path, start)
    later = start + timedelta(days=1, hours=-2)

    shown = _import(rt, _ehr_export(tmp_path, booking_id, status="booked", start=later))

    assert shown["visits"]["followed"] == [{"booking": booking_id, "outcome": "ride-replanned"}]
    assert _rides(rt) == [
        ("cancelled", start - TRAVEL_BUFFER, True),  # withdrawn at the provider
        ("requested", later - TRAVEL_BUFFER, True),  # and asked for the new pickup
    ]
    with rt.transaction() as session:
        booked = session.get(AccessBooking, booking_id)
        assert booked is not None
        assert (booked.state, booked.start) == ("booked", later)
    again = _import(rt, _ehr_export(tmp_path, booking_id, status="booked", start=later))
    assert "visits" not in again  # one change is followed once
    assert len(_rides(rt)) == 2


def test_a_visit_the_ehr_cancels_has_its_ride_withdrawn_at_once(
    rt: Runtime, tmp_path: Path
) -> None:
    start = _three_days_ahead()
    booking_id = _booked_with_a_requested_ride(rt, tmp_path, start)

    shown = _import(rt, _ehr_export(tmp_path, booking_id, status="cancelled", start=start))

    assert shown["visits"]["followed"] == [{"booking": booking_id, "outcome": "cancelled"}]
    assert _rides(rt) == [("cancelled", start - TRAVEL_BUFFER, True)]
    with rt.transaction() as session:
        booked = session.get(AccessBooking, booking_id)
        assert booked is not None
        assert booked.state == "cancelled"
