"""Messages out as FHIR Communications: only a message that left careloop reads as sent.

An EHR reads ``Communication?patient=...`` to know what the patient was told. A message
queued for tonight, or one that died (the number took no texts), was never sent: it must
not say ``completed`` with a ``sent`` time.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from tests.fhir.conftest import FhirServer, add_patients, valid


def _queue(fhir_server: FhirServer, clock: FrozenClock, *states: OutboxState) -> None:
    """One message per state, as the worker leaves them (queued ones are due tonight)."""
    with fhir_server.rt.transaction() as session:
        for n, state in enumerate(states):
            row = enqueue(
                session,
                message=NewMessage(
                    idempotency_key=f"comm-{n}",
                    patient_id="comm-1",
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+16175550000",
                    body=f"message {n}",
                    due_at=clock.now() + timedelta(hours=n),
                ),
                now=clock.now(),
            )
            assert row is not None
            row.state = state
            if state in (OutboxState.SENT, OutboxState.DELIVERED):
                row.sent_at = row.due_at
        assert len(session.scalars(select(OutboxMessage.id)).all()) == len(states)


def test_only_a_message_that_left_reads_as_sent(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "comm-1")
    states = [OutboxState.SENT, OutboxState.DELIVERED, OutboxState.DEAD, OutboxState.QUEUED]
    _queue(fhir_server, clock, *states)
    with fhir_server.http("clinician") as http:
        bundle = valid(http.get("/Communication", params={"patient": "comm-1"}).json())
        done = valid(http.get("/Communication", params={"status": "completed"}).json())
    by_body = {e["resource"]["payload"][0]["contentString"]: e["resource"] for e in bundle["entry"]}
    read = [
        (by_body[f"message {n}"]["status"], "sent" in by_body[f"message {n}"])
        for n in range(len(states))
    ]
    assert read == [
        ("completed", True),
        ("completed", True),
        ("not-done", False),  # it died: never sent
        ("preparation", False),  # due tonight: not sent yet
    ]
    assert done["total"] == 2
