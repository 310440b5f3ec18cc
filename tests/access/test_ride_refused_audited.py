"""gov3: a ride the provider refused (4xx) still went to the provider with the patient's
reference and visit time; that disclosure must be audited like a ride it accepted."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from careloop.access.rides import RideRequest, run_rides
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.models import AccessRide
from careloop.models.governance import AuditEvent
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER
from tests.access.test_rides import FakeRides, _booked_with_ride


class RefusingRides(FakeRides):
    def request(self, ride: RideRequest) -> str:
        self.requests.append(ride)  # the provider got the patient's ride
        raise InvalidInput("ride provider refused the ride (422)", field="ride")


def test_a_refused_ride_is_audited_as_sent(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _booked_with_ride(rt, tmp_path)
    provider = RefusingRides()
    with rt.transaction() as session:
        done = run_rides(session, provider=provider, clock=clock, principal=SYSTEM_WORKER)
    assert done["requested"] == 0
    assert [r.patient_ref for r in provider.requests] == ["Patient/p-001"]
    with rt.transaction() as session:
        assert session.scalars(select(AccessRide.status)).all() == ["failed"]
        sent = session.execute(
            select(AuditEvent.action, AuditEvent.resource, AuditEvent.patient_id).where(
                AuditEvent.resource == "ride"
            )
        ).all()
    assert [(a, p) for a, _r, p in sent] == [("send", "p-001")]
