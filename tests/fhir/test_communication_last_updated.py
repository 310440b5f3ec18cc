"""A message queued for later reads in FHIR as last updated when careloop queued it, never
at its (future) send time: an EHR that takes the newest ``lastUpdated`` it read as its next
sync point would otherwise skip every change made before that time."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from careloop.clock import FrozenClock
from careloop.outreach.outbox import NewMessage, enqueue
from tests.fhir.conftest import FhirServer, add_patients, valid


def test_a_queued_message_was_last_updated_when_queued_not_when_due(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "lu-1")
    queued_at = clock.now()
    with fhir_server.rt.transaction() as session:
        enqueue(
            session,
            message=NewMessage(
                idempotency_key="lu-tonight",
                patient_id="lu-1",
                purpose="care-reminders",
                channel="sms",
                to_address="+16175550000",
                body="due tonight",
                due_at=queued_at + timedelta(hours=9),
            ),
            now=queued_at,
        )
    clock.set(queued_at + timedelta(minutes=5))
    until_now = f"le{clock.now().isoformat()}"
    with fhir_server.http("clinician") as http:
        bundle = valid(http.get("/Communication", params={"patient": "lu-1"}).json())
        synced = valid(http.get("/Communication", params={"_lastUpdated": until_now}).json())

    (entry,) = bundle["entry"]
    assert entry["resource"]["meta"]["lastUpdated"] == queued_at.isoformat().replace("+00:00", "Z")
    assert synced["total"] == 1
