"""A visit booked while the caregiver drove on that weekday is re-checked when the caregiver's
availability changes: a ride for a patient who needs transport, else a coordinator task;
before, it stayed booked with no way there and nobody was told. Both databases; the change
comes through the CLI and through a re-import (then the ``ride-dispatch`` run finds it)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from typer.testing import CliRunner

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.fhirdata.visits import visit_facts
from careloop.models import AccessBooking, AccessRide, FhirResource, OutboxMessage, WorklistItem
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access import fhir_fixtures as fx
from tests.outreach.conftest import sync_content

runner = CliRunner()
NY = ZoneInfo("America/New_York")


def _weekday_afternoon() -> datetime:
    """15:45 in New York on the first weekday at least three days ahead (the wife drives)."""
    day = datetime.now(NY).date() + timedelta(days=3)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(15, 45), tzinfo=NY)


def _booked_with_the_wife(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, *, needs_transport: bool
) -> tuple[str, datetime]:
    """John's visit at 15:45, inside his wife's weekday window: booked with no ride."""
    start = _weekday_afternoon()
    now = datetime.now(UTC)
    screen = [fx.transport_screen("john", when=now - timedelta(days=30))] if needs_transport else []
    fx.import_resources(
        rt,
        tmp_path,
        [
            fx.patient("john"),
            fx.caregiver("john", "john-wife"),
            *screen,
            fx.location(),
            fx.schedule("sch-1"),
            fx.slot("s-1", schedule_id="sch-1", start=start.astimezone(UTC)),
        ],
    )
    sync_content(rt)
    clock.set(now - timedelta(hours=1))
    with rt.transaction() as session:
        booked = bookings.book(
            session,
            patient_id="john",
            offer=Offer("s-1", start, start + timedelta(minutes=30), "in-person", False, ""),
            clock=clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        assert _escorts(session, booked.id) == ("john-wife",)
        return booked.id, start


def _escorts(session: Any, booking_id: str) -> tuple[str, ...] | None:
    row = session.get(FhirResource, ("Appointment", booking_id))
    return visit_facts(row.resource).escorts


def _cli(rt: Runtime, *args: str) -> dict[str, Any]:
    url = rt.settings.database_url
    result = runner.invoke(app, [*args, "--database", url, "--json"])
    assert result.exit_code == 0, result.output
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def test_a_patient_who_needs_transport_gets_a_ride_when_the_wife_can_no_longer_drive(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    booking_id, start = _booked_with_the_wife(rt, clock, tmp_path, needs_transport=True)

    shown = _cli(
        rt,
        "caregivers",
        "set-availability",
        "john-wife",
        "--window",
        "sat-sun 10:00-12:00",
    )

    assert shown["visits"] == [{"booking": booking_id, "outcome": "ride-planned", "cancelled": 0}]
    with rt.transaction() as session:
        booked = session.get(AccessBooking, booking_id)
        [ride] = session.scalars(select(AccessRide)).all()
        told = session.scalars(
            select(OutboxMessage.content_message).where(OutboxMessage.patient_id == "john")
        ).all()
        assert booked is not None
        assert booked.ride
        assert (ride.status, ride.pickup_at) == ("pending", start - timedelta(minutes=45))
        assert _escorts(session, booking_id) == ()
    assert "ride_booked" in told


def test_a_reimported_caregiver_leaves_a_task_naming_the_visit_and_the_reason(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    booking_id, start = _booked_with_the_wife(rt, clock, tmp_path, needs_transport=False)
    clock.advance(timedelta(minutes=10))
    fx.import_resources(rt, tmp_path, [fx.caregiver("john", "john-wife", days=("sat", "sun"))])

    run = _cli(rt, "schedule", "dispatch-rides")
    again = _cli(rt, "schedule", "dispatch-rides")

    assert run["rechecked"] == [{"booking": booking_id, "outcome": "task", "cancelled": 0}]
    assert again["rechecked"] == []
    with rt.transaction() as session:
        [task] = session.scalars(
            select(WorklistItem).where(WorklistItem.rule_id == f"access-escort:{booking_id}")
        ).all()
        assert session.scalars(select(AccessRide)).all() == []
        assert _escorts(session, booking_id) == ()
    when = start.strftime("%Y-%m-%d %H:%M")
    assert task.title == f"Visit {when}: the caregiver who was to come along no longer can"
    assert "does not say the patient needs transport" in task.findings[0]["summary"]


def test_a_change_through_the_api_rechecks_the_visit_at_once(
    rt: Runtime,
    clock: FrozenClock,
    tmp_path: Path,
    api_client,  # type: ignore[no-untyped-def]
) -> None:
    booking_id, _start = _booked_with_the_wife(rt, clock, tmp_path, needs_transport=True)
    clock.advance(timedelta(minutes=10))

    response = api_client("coordinator").put(
        "/api/patients/john/caregivers/john-wife/availability",
        json={"windows": ["sat-sun 10:00-12:00"]},
    )

    assert response.status_code == 200, response.text
    assert response.json()["visits"] == [
        {"booking": booking_id, "outcome": "ride-planned", "cancelled": 0}
    ]
    with rt.transaction() as session:
        assert [r.booking_id for r in session.scalars(select(AccessRide))] == [booking_id]
