"""FHIR Subscriptions (R4 backport, topic-based): created over /fhir, delivered by the
``fhir-subscriptions`` job to a real HTTP receiver, signed with HMAC, retried with backoff,
dead-lettered; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from careloop.cli import app
from careloop.clock import FrozenClock
from careloop.compose.jobs import JobRunner
from careloop.fhir import delivery
from careloop.fhir.notify import verify
from careloop.models import AuditEvent
from careloop.settings import FhirSettings, Settings
from tests.feedback.loop_payloads import blood_pressure
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.fhir.receiver import Receiver, receiver

SECRET = "a-shared-secret-of-at-least-32-characters"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
ALERTS = "https://careloop.dev/fhir/SubscriptionTopic/alerts"


@pytest.fixture
def hook() -> Iterator[Receiver]:
    yield from receiver()


def subscription(endpoint: str, *, criteria: str = ALERTS, **extra: Any) -> dict[str, Any]:
    channel: dict[str, Any] = {
        "type": "rest-hook",
        "endpoint": endpoint,
        "payload": "application/fhir+json",
        "_payload": {
            "extension": [
                {"url": BACKPORT + "backport-payload-content", "valueCode": "full-resource"}
            ]
        },
        "extension": [
            {
                "url": "https://careloop.dev/fhir/StructureDefinition/subscription-hmac-secret",
                "valueString": SECRET,
            }
        ],
    }
    channel.update(extra.pop("channel", {}))
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "alerts to the EHR",
        "criteria": criteria,
        **extra,
        "channel": channel,
    }


def _filter(text: str) -> dict[str, Any]:
    return {"extension": [{"url": BACKPORT + "backport-filter-criteria", "valueString": text}]}


def _status(bundle: dict[str, Any]) -> dict[str, Any]:
    params = bundle["entry"][0]["resource"]["parameter"]
    return {p["name"]: p.get("valueCode") or p.get("valueString") for p in params}


def test_a_crisis_alert_reaches_the_endpoint_signed_after_the_handshake(
    fhir_server: FhirServer, hook: Receiver, clock: FrozenClock, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    add_patients(rt, tmp_path, "sub-1", "sub-2")
    body = subscription(hook.url, _criteria=_filter("Flag?patient=Patient/sub-1"))
    with fhir_server.http("clinician") as http:
        created = http.post("/Subscription", json=body)
        assert created.status_code == 201, created.text
        sub = valid(created.json())
        assert SECRET not in created.text  # the secret is never served back
        assert http.get(created.headers["location"]).json()["status"] == "requested"

        delivery.run(rt, clock.now())
        (handshake,) = hook.requests
        assert verify(SECRET, handshake.body, handshake.headers["x-careloop-signature"])
        assert _status(valid(handshake.json()))["type"] == "handshake"
        assert http.get(f"/Subscription/{sub['id']}").json()["status"] == "active"

        clock.advance(timedelta(minutes=1))
        http.post("/Observation", json=blood_pressure("sub-2", 190, 105, clock.now()))
        http.post("/Observation", json=blood_pressure("sub-1", 192, 104, clock.now()))
        clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())
    delivery.run(rt, clock.now())  # nothing changed since: nothing sent twice

    (_, event) = hook.requests
    assert verify(SECRET, event.body, event.headers["x-careloop-signature"])
    assert not verify(
        "another secret of the same length, or not",
        event.body,
        event.headers["x-careloop-signature"],
    )
    bundle = valid(event.json())
    assert bundle["type"] == "history"
    status = _status(bundle)
    assert (status["type"], status["events-since-subscription-start"]) == (
        "event-notification",
        "1",
    )
    flag = bundle["entry"][1]["resource"]
    assert flag["resourceType"] == "Flag"
    assert flag["subject"]["reference"] == "Patient/sub-1"  # the filter kept sub-2 out
    assert flag["code"]["coding"][0]["code"] == "bp-crisis"
    with rt.transaction() as session:
        sent = session.scalars(
            select(AuditEvent).where(AuditEvent.resource == f"fhir-subscription:{sub['id']}")
        ).all()
    assert [(a.patient_id, a.action) for a in sent] == [("sub-1", "send")]


def test_a_failing_endpoint_is_retried_with_backoff_then_dead_lettered(
    fhir_server: FhirServer, hook: Receiver, clock: FrozenClock
) -> None:
    rt = fhir_server.rt
    rt.settings = Settings(
        database_url=rt.settings.database_url,
        fhir=FhirSettings(subscription_attempts=3, subscription_backoff_seconds=30),
    )
    hook.statuses = [500, 503, 500]
    with fhir_server.http("clinician") as http:
        sub = http.post("/Subscription", json=subscription(hook.url)).json()
    tried_at, elapsed = [], 0
    for step in (0, 0, 29, 1, 59, 1, 200):  # retries after 30 s, then 60 s; then none
        clock.advance(timedelta(seconds=step))
        elapsed += step
        before = len(hook.requests)
        delivery.run(rt, clock.now())
        if len(hook.requests) > before:
            tried_at.append(elapsed)
    assert tried_at == [0, 30, 90]
    with rt.transaction() as session:
        (dead,) = delivery.dead_letters(session)
    assert (dead["subscription"], dead["type"], dead["attempts"], dead["last_error"]) == (
        sub["id"],
        "handshake",
        3,
        "HTTP 500",
    )
    with fhir_server.http("clinician") as http:
        assert http.get(f"/Subscription/{sub['id']}").json()["status"] == "error"

    url = rt.settings.database_url
    shown = CliRunner().invoke(app, ["fhir", "dead-letters", "--database", url, "--json"])
    assert [d["id"] for d in orjson.loads(shown.stdout)] == [dead["id"]]
    again = CliRunner().invoke(app, ["fhir", "dead-letters", "--database", url, "--retry", "999"])
    assert again.exit_code == 2
    assert "no dead letter 999" in again.output
    CliRunner().invoke(app, ["fhir", "dead-letters", "--database", url, "--retry", str(dead["id"])])
    delivery.run(rt, clock.now())
    assert len(hook.requests) == 4
    with fhir_server.http("clinician") as http:
        assert http.get(f"/Subscription/{sub['id']}").json()["status"] == "active"


def test_the_backoff_doubles_up_to_its_cap() -> None:
    settings = FhirSettings(subscription_backoff_seconds=30, subscription_backoff_max_seconds=100)
    waits = [delivery.backoff(settings, n).total_seconds() for n in (1, 2, 3, 4)]
    assert waits == [30, 60, 100, 100]


def test_the_job_runs_delivery_and_a_heartbeat_follows_silence(
    fhir_server: FhirServer, hook: Receiver, clock: FrozenClock
) -> None:
    rt = fhir_server.rt
    heartbeat = {
        "extension": [
            {
                "url": "https://careloop.dev/fhir/StructureDefinition/subscription-hmac-secret",
                "valueString": SECRET,
            },
            {"url": BACKPORT + "backport-heartbeat-period", "valueUnsignedInt": 120},
        ]
    }
    with fhir_server.http("clinician") as http:
        http.post("/Subscription", json=subscription(hook.url, channel=heartbeat))
    outcomes = {o.name: o for o in JobRunner(rt, owner="w1").run_due()}
    assert outcomes["fhir-subscriptions"].result["delivered"] == 1
    clock.advance(timedelta(minutes=3))
    JobRunner(rt, owner="w1").run_due()
    assert [_status(r.json())["type"] for r in hook.requests] == ["handshake", "heartbeat"]


def test_a_deleted_subscription_sends_nothing_more(
    fhir_server: FhirServer, hook: Receiver, clock: FrozenClock, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    add_patients(rt, tmp_path, "del-1")
    with fhir_server.http("clinician") as http:
        sub = http.post("/Subscription", json=subscription(hook.url)).json()
        delivery.run(rt, clock.now())
        found = valid(http.get("/Subscription", params={"status": "active"}).json())
        assert [e["resource"]["id"] for e in found["entry"]] == [sub["id"]]
        assert http.delete(f"/Subscription/{sub['id']}").status_code == 204
        http.post("/Observation", json=blood_pressure("del-1", 192, 104, clock.now()))
        assert http.get(f"/Subscription/{sub['id']}").status_code == 404
    clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())
    assert len(hook.requests) == 1  # the handshake only


@pytest.mark.parametrize(
    ("change", "element"),
    [
        (
            {"criteria": "https://careloop.dev/fhir/SubscriptionTopic/nothing"},
            "Subscription.criteria",
        ),
        ({"_criteria": _filter("Patient?name=x")}, "Subscription.criteria"),
        ({"_criteria": _filter("Flag?colour=red")}, "Subscription.criteria"),
        ({"channel": {"endpoint": "http://ehr.example.org/hook"}}, "Subscription.channel.endpoint"),
        ({"channel": {"type": "websocket"}}, "Subscription.channel.type"),
        ({"channel": {"extension": []}}, "Subscription.channel.extension"),
    ],
)
def test_a_bad_subscription_is_a_400_naming_the_element(
    fhir_server: FhirServer, change: dict[str, Any], element: str
) -> None:
    body = subscription("https://ehr.example.org/hook")
    change = dict(change)  # the parameters are shared by both databases' runs
    channel = change.pop("channel", None)
    body.update(change)
    if channel:
        body["channel"] = {**body["channel"], **channel}
    with fhir_server.http("clinician") as http:
        answer = http.post("/Subscription", json=body)
    assert answer.status_code == 400, answer.text
    assert valid(answer.json())["issue"][0]["expression"] == [element]


def test_patients_and_admins_cannot_subscribe(fhir_server: FhirServer, tmp_path: Path) -> None:
    add_patients(fhir_server.rt, tmp_path, "own-1")
    body = subscription("https://ehr.example.org/hook")
    with fhir_server.http("patient", patient_id="own-1") as http:
        assert http.post("/Subscription", json=body).status_code == 403
    with fhir_server.http("admin") as http:
        assert http.post("/Subscription", json=body).status_code == 403


def test_the_capability_statement_lists_the_topics(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        statement = valid(http.get("/metadata").json())
    (sub,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    topics = {e["valueCanonical"].rsplit("/", 1)[1] for e in sub["extension"]}
    assert topics == {"alerts", "conversations", "plan-changes", "program-results", "bookings"}


def test_a_care_gap_found_by_a_program_run_fires_program_results(
    fhir_server: FhirServer, hook: Receiver, clock: FrozenClock, tmp_path: Path
) -> None:
    from careloop.programs.definition import find_program
    from careloop.programs.service import run_program
    from tests.programs.program_fixtures import import_patients, patient

    rt = fhir_server.rt
    import_patients(rt, tmp_path / "women", [[patient("gap-1", birth="1960-03-04")]])
    body = subscription(hook.url, criteria="program-results", _criteria=_filter("patient=gap-1"))
    with fhir_server.http("clinician") as http:
        assert http.post("/Subscription", json=body).status_code == 201
    delivery.run(rt, clock.now())
    clock.advance(timedelta(minutes=1))
    with rt.transaction() as session:
        run_program(
            session,
            program=find_program("breast-cancer-screening"),
            now=rt.clock.now(),
            period="2025-01-01/2025-12-31",
        )
    clock.advance(timedelta(minutes=1))
    delivery.run(rt, clock.now())
    _handshake, event = hook.requests
    report = valid(event.json())["entry"][1]["resource"]
    assert (report["resourceType"], report["type"]) == ("MeasureReport", "individual")
    assert report["subject"]["reference"] == "Patient/gap-1"


def test_the_delivery_jobs_summary_gives_the_counts_and_never_the_errors() -> None:
    from careloop.fhir.delivery import RunResult

    result = RunResult(queued=3, delivered=2, retried=1, heartbeats=4)
    result.errors.append("https://ehr.example/hook: 500")
    assert result.as_dict() == {
        "queued": 3, "delivered": 2, "retried": 1, "dead": 0, "heartbeats": 4,
    }  # fmt: skip
