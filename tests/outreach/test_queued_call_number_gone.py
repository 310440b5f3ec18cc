"""The worker's last look at a queued message's number covers calls too: a call queued to the
patient's number, due after the EHR re-sent the record without that number (it may be
someone else's now), does not ring it; it is dead-lettered ``number-gone``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select
from tests.access.fhir_fixtures import import_resources, patient
from tests.outreach.conftest import Loop

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime

NEW_MOBILE = "+15550100002"


def test_a_queued_call_does_not_go_to_a_number_the_record_no_longer_has(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path
) -> None:
    record = patient("p-001")
    old_mobile = record["telecom"][0]["value"]
    import_resources(rt, tmp_path, [record])
    loop = make_loop([], {})
    now = loop.clock.now()
    with rt.transaction() as session:
        row = enqueue(  # a call as outreach queues one: to the record's number, due now
            session,
            message=NewMessage(
                idempotency_key="call:p-001",
                patient_id="p-001",
                purpose="care-reminders",
                channel="voice",
                to_address=old_mobile,
                body="Pat, it is time for your mammogram. Please call us to book.",
                due_at=now,
                language="en",
            ),
            now=now,
        )
        assert row is not None
        outbox_id = row.id
    record["telecom"] = [{"system": "phone", "value": NEW_MOBILE, "use": "mobile"}]
    import_resources(rt, tmp_path, [record])
    loop.work()

    assert loop.voice.sent_to(old_mobile) == []
    with rt.transaction() as session:
        state, reason = session.execute(
            select(OutboxMessage.state, OutboxMessage.dead_reason).where(
                OutboxMessage.id == outbox_id
            )
        ).one()
    assert (state, reason) == ("dead", "number-gone")
