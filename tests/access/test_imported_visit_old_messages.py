"""When the EHR moves a booked visit, the confirmation still queued with the old time (and
the caregiver's booked notice) does not go out after the move is followed, as on a cancel."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime
from tests.access.test_imported_visits import (
    _booked_with_a_requested_ride,
    _ehr_export,
    _import,
    _three_days_ahead,
)


def test_queued_old_time_confirmation_dies_when_the_ehr_moves_the_visit(
    rt: Runtime, tmp_path: Path
) -> None:
    start = _three_days_ahead()
    booking_id = _booked_with_a_requested_ride(rt, tmp_path, start)
    key = f"request:visit-booked:{booking_id}"
    with rt.transaction() as session:
        enqueue(
            session,
            message=NewMessage(
                idempotency_key=key,
                patient_id="p-001",
                purpose="care-reminders",
                channel="sms",
                to_address="+15555550100",
                body=f"Your visit is booked for {start:%a %H:%M}.",
                due_at=rt.clock.now() + timedelta(hours=12),
            ),
            now=rt.clock.now(),
        )

    later = start + timedelta(days=1, hours=-2)
    shown = _import(rt, _ehr_export(tmp_path, booking_id, status="booked", start=later))
    assert shown["visits"]["followed"][0]["booking"] == booking_id

    with rt.transaction() as session:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == key)
        ).one()
        assert row.state == "dead", "old-time confirmation would still be sent after the move"
        assert row.dead_reason == "visit-changed"
