"""The EHR moves a ride visit; careloop follows it in place (same booking id), the old
ride is withdrawn and a new one planned. When the broker confirms the new ride, the patient
is told the new pickup time: the ride notice is keyed by booking and pickup, so the old
notice, sent days ago, does not stand in for the new one."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.access.imported_visits import follow_imported_visits
from careloop.access.rides import TRAVEL_BUFFER, FakeRides, dispatch_rides
from careloop.access.sending import send_ride_booked
from careloop.clock import FrozenClock
from careloop.models import AccessBooking, AccessRide, OutboxMessage
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import import_resources
from tests.access.test_rides import START, _booked_with_ride
from tests.outreach.conftest import sync_content


def test_the_new_pickup_is_told_after_the_ehr_moves_a_ride_visit(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    ride_id = _booked_with_ride(rt, tmp_path)
    sync_content(rt)
    with rt.transaction() as session:
        dispatch_rides(session, provider=FakeRides(), clock=clock)
        ride = session.get(AccessRide, ride_id)
        assert ride is not None
        booking = session.get(AccessBooking, ride.booking_id)
        assert booking is not None
        booking_id = booking.id
        send_ride_booked(  # the broker confirmed: the patient is told the pickup
            session, booking=booking, pickup_at=ride.pickup_at, clock=clock, settings=rt.settings
        )
        session.flush()
        for row in session.scalars(select(OutboxMessage)):
            row.state, row.sent_at = "sent", clock.now()  # it went

    later = START + timedelta(hours=3)
    import_resources(
        rt,
        tmp_path / "ehr",
        [
            {
                "resourceType": "Appointment",
                "id": booking_id,
                "status": "booked",
                "start": later.isoformat(),
                "end": (later + timedelta(minutes=30)).isoformat(),
                "participant": [{"actor": {"reference": "Patient/p-001"}, "status": "accepted"}],
            }
        ],
    )
    with rt.transaction() as session:
        done = follow_imported_visits(session, clock=clock)
        assert [d.outcome for d in done] == ["ride-replanned"]
        dispatch_rides(session, provider=FakeRides(), clock=clock)
        new = session.scalars(
            select(AccessRide).where(AccessRide.status.not_in(["cancelled", "cancelling"]))
        ).one()
        assert new.pickup_at == later - TRAVEL_BUFFER
        booking = session.get(AccessBooking, booking_id)
        assert booking is not None
        # the broker confirms the new ride: what ride_webhooks does
        send_ride_booked(
            session, booking=booking, pickup_at=new.pickup_at, clock=clock, settings=rt.settings
        )

    with rt.transaction() as session:
        notices = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.content_message == "ride_booked")
            .order_by(OutboxMessage.id)
        ).all()
        unsent = [n for n in notices if n.state == "queued"]
        assert len(unsent) == 1, [(n.state, n.body) for n in notices]
