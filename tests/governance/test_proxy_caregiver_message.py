"""A caregiver writing in the portal as the patient's proxy writes their own words: the message
is stored as the caregiver's, the staff read "Maria (daughter, caregiver)" beside it, and the
audit trail names the caregiver's account as the actor, never the patient.

Driven over HTTP as a caregiver does it: a code by text, the patient's grant, the form post;
the staff read it on the patient page and on the worklist's reply card.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.governance.conftest import PATIENT_A, enrol, load
from typer.testing import CliRunner

from careloop.cli import app as cli_app
from careloop.events import EventKind
from careloop.models import AuditEvent, Event, InboundReply
from careloop.runtime import Runtime

MARIA = "gov-rp-maria"
MARIA_PHONE = "+15550100177"
WORDS = "Mum is more tired since the new tablets, can someone call me?"


def _maria() -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": MARIA,
        "patient": {"reference": f"Patient/{PATIENT_A}"},
        "relationship": [{"text": "Daughter"}],
        "name": [{"given": ["Maria"], "family": "Govtest"}],
        "telecom": [{"system": "phone", "value": MARIA_PHONE, "use": "mobile"}],
    }


def _maria_signed_in(rt: Runtime, tmp_path: Path, api_client: Any, portal_client: Any) -> Any:
    load(rt, tmp_path, _maria())
    enrol(rt, patient_id=PATIENT_A, system="sms", value=MARIA_PHONE, caregiver_id=MARIA)
    granted = api_client("patient", patient_id=PATIENT_A).post(
        f"/api/patients/{PATIENT_A}/proxy-grants",
        json={"caregiver_id": MARIA, "scopes": ["record", "messages"]},
    )
    assert granted.status_code == 201, granted.text
    return portal_client("sms", MARIA_PHONE)


def test_a_caregivers_portal_message_is_the_caregivers(
    population: Runtime, tmp_path: Path, api_client: Any, portal_client: Any
) -> None:
    rt = population
    maria = _maria_signed_in(rt, tmp_path, api_client, portal_client)
    maria_actor = maria.get("/api/auth/me").json()["actor"]

    sent = maria.post(
        "/portal/messages", data={"body": WORDS, "patient": PATIENT_A}, follow_redirects=False
    )

    assert sent.status_code == 303, sent.text
    with rt.transaction() as session:
        stored = session.scalars(select(InboundReply).where(InboundReply.body == WORDS)).all()
        audited = session.scalars(
            select(AuditEvent).where(AuditEvent.resource == "portal-message")
        ).all()
        replied = session.scalars(select(Event).where(Event.kind == EventKind.REPLIED)).all()
    assert [(r.patient_id, r.caregiver_id) for r in stored] == [(PATIENT_A, MARIA)]
    assert [(a.actor, a.action, a.patient_id, a.detail.get("caregiver")) for a in audited] == [
        (maria_actor, "send", PATIENT_A, MARIA)
    ]
    assert [(e.actor, e.patient_id) for e in replied] == [(f"caregiver:{MARIA}", PATIENT_A)]
    verified = CliRunner().invoke(
        cli_app, ["audit", "verify", "--json", "--database", rt.settings.database_url]
    )
    assert (verified.exit_code, json.loads(verified.stdout)["ok"]) == (0, True), verified.output


def test_the_staff_read_who_wrote_it(
    population: Runtime, tmp_path: Path, api_client: Any, portal_client: Any
) -> None:
    rt = population
    maria = _maria_signed_in(rt, tmp_path, api_client, portal_client)
    sent = maria.post(
        "/portal/messages", data={"body": WORDS, "patient": PATIENT_A}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    nurse = api_client("nurse")

    page = nurse.get(f"/console/patients/{PATIENT_A}").text
    worklist = nurse.get("/console/worklist").text

    assert "Maria (daughter, caregiver) wrote" in page
    assert "Patient replied" not in page
    assert "Read the caregiver&#39;s message" in worklist or "Read the caregiver's message" in (
        worklist
    )
    assert 'data-testid="thread-who">Maria (daughter, caregiver)</strong>' in worklist


def test_a_caregivers_stop_in_the_portal_does_not_stop_the_patients_texts(
    population: Runtime, tmp_path: Path, api_client: Any, portal_client: Any
) -> None:
    """The caregiver's words are read by a person, never taken as the patient's keyword."""
    rt = population
    maria = _maria_signed_in(rt, tmp_path, api_client, portal_client)
    staff = api_client("nurse")
    told = staff.post(
        f"/console/patients/{PATIENT_A}/messages",
        data={"body": "Your results are in.", "channel": "portal", "idempotency_key": "k" * 32},
        follow_redirects=False,
    )
    assert told.status_code == 303, told.text

    sent = maria.post(
        "/portal/messages", data={"body": "STOP", "patient": PATIENT_A}, follow_redirects=False
    )

    assert sent.status_code == 303, sent.text
    with rt.transaction() as session:
        [stored] = session.scalars(select(InboundReply).where(InboundReply.body == "STOP")).all()
        opted_out = session.scalars(select(Event).where(Event.kind == EventKind.OPTED_OUT)).all()
    assert (stored.caregiver_id, stored.handled_as, opted_out) == (MARIA, "care-team-inbox", [])
