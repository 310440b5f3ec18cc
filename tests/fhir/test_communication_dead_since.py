"""A Communication's status follows the outbox (``preparation``, then ``not-done``), so the
time an export's ``_since`` compares is the row's last change: a text that failed and died
after an export reaches the next incremental export as ``not-done``, and the EHR learns it
failed instead of keeping it as "being prepared" for good."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import httpx
import orjson
from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from tests.fhir.conftest import FhirServer, add_patients

ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}


def _communications(http: httpx.Client, since: str) -> list[dict]:  # type: ignore[type-arg]
    kick_off = http.get(
        "/Patient/$export", params={"_type": "Communication", "_since": since}, headers=ASYNC
    )
    assert kick_off.status_code == 202, kick_off.text
    deadline = time.monotonic() + 30
    while (status := http.get(kick_off.headers["content-location"])).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    lines = []
    for output in status.json()["output"]:
        body = http.get(output["url"]).content
        lines += [orjson.loads(line) for line in body.splitlines() if line]
    return lines


def _set(fhir_server: FhirServer, clock: FrozenClock, state: OutboxState) -> None:
    with fhir_server.rt.transaction() as session:
        row = session.scalars(select(OutboxMessage)).one()
        row.state = state
        row.updated_at = clock.now()
        if state is OutboxState.DEAD:
            row.dead_reason = "max-attempts"


def test_a_text_that_died_after_an_export_reaches_the_next_incremental_export(
    fhir_server: FhirServer,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    add_patients(fhir_server.rt, tmp_path, "comm-1")
    with fhir_server.rt.transaction() as session:
        enqueue(
            session,
            message=NewMessage(
                idempotency_key="comm-0",
                patient_id="comm-1",
                purpose="care-reminders",
                channel="sms",
                to_address="+16175550000",
                body="Your visit is tomorrow at 9.",
                due_at=clock.now(),
            ),
            now=clock.now(),
        )
    _set(fhir_server, clock, OutboxState.FAILED_TRANSIENT)  # the carrier answered 503
    clock.advance(timedelta(minutes=20))
    with fhir_server.http("clinician") as http:
        first = _communications(http, (clock.now() - timedelta(hours=1)).isoformat())
        assert [c["status"] for c in first] == ["preparation"]
        last_export = clock.now()
        clock.advance(timedelta(minutes=20))
        _set(fhir_server, clock, OutboxState.DEAD)  # the last attempt failed too
        clock.advance(timedelta(minutes=20))
        second = _communications(http, last_export.isoformat())

    assert [c["status"] for c in second] == ["not-done"]
