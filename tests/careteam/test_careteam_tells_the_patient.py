"""The care team reaches a patient through outreach's one entry point, end to end: an approved
plan change and a missing-data nudge each reach the patient, in their language, on the channel
they can be reached by, through the outbox and the worker."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import select

from careloop.careteam import intake
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.governance.consent import opt_out_channel
from careloop.models import OutboxMessage
from careloop.records.importer import import_paths
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR, Principal
from careloop.security.roles import Role
from tests.feedback.loop_payloads import diary, glucose
from tests.outreach.conftest import fake_registry, sync_content

NURSE = Principal(actor="user:nurse", role=Role.CLINICIAN)


def _patient(
    rt: Runtime, tmp_path: Path, pid: str, *, language: str, telecom: list[dict[str, Any]]
) -> None:
    """A FHIR Patient imported through records: their contact points and spoken language."""
    resource = {
        "resourceType": "Patient",
        "id": pid,
        "gender": "female",
        "birthDate": "1961-07-01",
        "name": [{"family": "Test", "given": ["Pat"]}],
        "telecom": telecom,
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]},
                "preferred": True,
            }
        ],
    }
    path = tmp_path / f"{pid}-{uuid.uuid4().hex[:6]}.json"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": resource}]}
    path.write_bytes(orjson.dumps(bundle))
    import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[path],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="America/New_York",
        workers=0,
    )


def _only(rt: Runtime, pid: str, channel: str) -> None:
    """The patient has said no to every other channel."""
    with rt.transaction() as session:
        for other in {"sms", "voice", "email", "portal"} - {channel}:
            opt_out_channel(
                session,
                patient_id=pid,
                channel=other,
                source="staff",
                actor="user:coordinator",
                now=rt.clock.now(),
            )


def _deliver(rt: Runtime, clock: FrozenClock, pid: str):  # type: ignore[no-untyped-def]
    """Run the worker once the queued message is due; what the fake gateways received."""
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.patient_id == pid)).one()
        due, content = row.due_at, row.content_message
    clock.set(max(clock.now(), due))
    registry, sms, email, voice, inbox = fake_registry()
    worker = build_worker(rt, worker_id="tell-worker", channels=registry)
    worker.sleep = lambda _s: None
    worker.run(once=True)
    return content, sms, email, voice, inbox


def test_an_approved_plan_change_reaches_a_spanish_speaker_by_sms_in_spanish(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    sync_content(rt)
    phone = "+15550100081"
    _patient(
        rt,
        tmp_path,
        "tell-es",
        language="es",
        telecom=[{"system": "phone", "value": phone, "use": "mobile"}],
    )
    _only(rt, "tell-es", "sms")
    nurse = api_client("clinician")
    nurse.post(
        "/fhir/QuestionnaireResponse", json=diary("tell-es", {"mouth-sores": 3}, clock.now())
    )
    (proposal,) = nurse.get("/api/plan-adjustments").json()

    approved = nurse.post(f"/api/plan-adjustments/{proposal['id']}/approve", json={})
    content, sms, email, voice, _inbox = _deliver(rt, clock, "tell-es")

    assert approved.status_code == 200
    assert content == "plan_changed"
    (sent,) = sms.sent_to(phone)
    assert "plan de cuidado" in sent.body
    assert (email.sent, voice.sent) == ([], [])


def test_readings_that_stop_bring_a_nudge_in_english_by_email(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    sync_content(rt)
    address = "tell.en@example.org"
    _patient(
        rt, tmp_path, "tell-en", language="en", telecom=[{"system": "email", "value": address}]
    )
    _only(rt, "tell-en", "email")
    with rt.transaction() as session:
        intake.receive_observation(
            session, glucose("tell-en", 118, clock.now()), clock=clock, principal=NURSE, source="t"
        )
    clock.advance(timedelta(days=3, hours=1))
    with rt.transaction() as session:
        done = intake.evaluate_missing_data(session, clock.now(), settings=rt.settings)

    content, sms, email, _voice, _inbox = _deliver(rt, clock, "tell-en")

    assert done == {"nudged": ["tell-en"], "tasks": []}
    assert content == "no_readings_3d"
    (sent,) = email.sent_to(address)
    assert "readings" in sent.body
    assert re.search(r"\b3\b", sent.body)  # days without readings, filled in
    assert sms.sent == []


def test_a_patient_who_chose_spanish_hears_the_care_teams_name_in_spanish(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client
) -> None:  # type: ignore[no-untyped-def]
    """Found walking the demo: the record says English, the patient chose Español in the
    portal; the explanation was Spanish but signed "Le llamamos de your care team"."""
    sync_content(rt)
    phone = "+15550100082"
    _patient(
        rt,
        tmp_path,
        "tell-chose-es",
        language="en",
        telecom=[{"system": "phone", "value": phone, "use": "mobile"}],
    )
    _only(rt, "tell-chose-es", "sms")
    nurse = api_client("clinician")
    chose = nurse.patch("/api/patients/tell-chose-es/preferences", json={"language": "es"})
    nurse.post(
        "/fhir/QuestionnaireResponse",
        json=diary("tell-chose-es", {"mouth-sores": 3}, clock.now()),
    )
    (proposal,) = nurse.get("/api/plan-adjustments").json()

    nurse.post(f"/api/plan-adjustments/{proposal['id']}/approve", json={})
    _content, sms, _email, _voice, _inbox = _deliver(rt, clock, "tell-chose-es")

    assert chose.status_code == 200
    (sent,) = sms.sent_to(phone)
    assert "plan de cuidado" in sent.body
    assert "su equipo de salud" in sent.body
    assert "your care team" not in sent.body
