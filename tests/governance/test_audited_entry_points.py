"""Every way into careloop that writes patient data leaves an audit row: who, what, whose.

Each entry point below is driven as its user drives it (a signed Twilio webhook, the CLI, the
API, the portal, the ride broker) on both databases, and must leave a row naming the actor,
the action and the patient; ``careloop audit verify`` still finds the chain intact. Every
HTTP route that can change something is listed here, with the entry point that proves it is
audited or the reason it touches no patient's data, so a new unaudited route fails the last
test.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.routing import Route
from tests.governance.conftest import A_PHONE, PATIENT_A, load
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from careloop.cli import app as cli_app
from careloop.crypto import signing_key
from careloop.governance.unsubscribe import make_unsubscribe_token
from careloop.models import AuditEvent
from careloop.runtime import Runtime
from careloop.web.app import create_app

TWILIO_TOKEN = "test-auth-token"
runner = CliRunner()
Client = Callable[..., Any]


@dataclass(frozen=True)
class World:
    rt: Runtime
    tmp_path: Path
    api_client: Client


@dataclass(frozen=True)
class Audited:
    """The row an entry point must leave: the actor (or its prefix), action, resource."""

    actor: str
    action: str
    resource: str
    patient_id: str


def _cli(world: World, *args: str) -> None:
    result = runner.invoke(cli_app, [*args, "--database", world.rt.settings.database_url])
    assert result.exit_code == 0, result.output


def _twilio(world: World, path: str, params: dict[str, str]) -> None:
    base = world.rt.settings.security.public_base_url.rstrip("/")
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(base + path, params)
    response = world.api_client(None).post(
        path, data=params, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 200, response.text


def sms_reply(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    params = {
        "From": "+15550100101",  # A_PHONE as Twilio writes it
        "To": "+15550009999",
        "Body": "Can someone call me about my results?",
        "MessageSid": "SMaudit1",
    }
    _twilio(world, "/webhooks/twilio/sms", params)
    return Audited(f"patient:{PATIENT_A}", "create", "inbound-reply", PATIENT_A)


def voice_key_press(world: World) -> Audited:
    from tests.outreach.conftest import make_patient

    from careloop.outreach.outbox import NewMessage, enqueue_many
    from careloop.outreach.states import OutboxState

    rt = world.rt
    make_patient(rt, patient_id="aud-v", phone="+16175550124")
    call = NewMessage(
        idempotency_key="voice:aud-v",
        patient_id="aud-v",
        purpose="care-reminders",
        channel="voice",
        to_address="+16175550124",
        body="Your visit is tomorrow.",
        due_at=rt.clock.now(),
        extra={"voicemail_text": "Your care team calling."},
    )
    with rt.transaction() as session:
        [row] = enqueue_many(session, messages=[call], now=rt.clock.now())
        assert row is not None
        row.provider_id, row.state = "CAaudit", OutboxState.SENT  # went out, was answered
        message_id = row.id
    params = {"CallSid": "CAaudit", "Digits": "1", "From": "+16175550124", "To": "+15550009999"}
    _twilio(world, f"/webhooks/twilio/voice/gather?m={message_id}", params)
    return Audited("patient:aud-v", "create", "inbound-reply", "aud-v")


def cli_preferences_set(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "preferences", "set", PATIENT_A, "--language", "es", "--actor", "nurse-joy")
    return Audited("cli:nurse-joy", "update", "preference-profile", PATIENT_A)


def cli_preferences_show(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(world, "preferences", "show", PATIENT_A)
    return Audited("cli:", "read", "preference-profile", PATIENT_A)


def cli_consent_set(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    _cli(
        world, "consent", "set", PATIENT_A,
        "--purpose", "surveys", "--channel", "email", "--status", "granted",
    )  # fmt: skip
    return Audited("cli:", "update", "consent", PATIENT_A)


def api_preferences_patch(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    staff = world.api_client("coordinator")
    response = staff.patch(f"/api/patients/{PATIENT_A}/preferences", json={"tone": "formal"})
    assert response.status_code == 200, response.text
    return Audited("user:", "update", "preference-profile", PATIENT_A)


def api_consent_put(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    staff = world.api_client("clinician")
    body = {"changes": [{"purpose": "surveys", "channel": "email", "status": "granted"}]}
    response = staff.put(f"/api/patients/{PATIENT_A}/consent", json=body)
    assert response.status_code == 200, response.text
    return Audited("user:", "update", "consent", PATIENT_A)


def unsubscribe_link(world: World) -> Audited:
    load(world.rt, world.tmp_path)
    token = make_unsubscribe_token(
        key=signing_key(world.rt.settings), patient_id=PATIENT_A, now=world.rt.clock.now()
    )
    response = world.api_client(None).post(
        f"/unsubscribe/{token}",
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    assert response.status_code == 200, response.text
    return Audited("", "update", "consent", PATIENT_A)


def fhir_reading(world: World) -> Audited:
    from tests.feedback.loop_payloads import add_patients, glucose

    add_patients(world.rt, world.tmp_path, "aud-1")
    reading = glucose("aud-1", 48, world.rt.clock.now())
    response = world.api_client("clinician").post("/fhir/Observation", json=reading)
    assert response.status_code == 201, response.text
    return Audited("user:", "create", "fhir-resource", "aud-1")


def portal_checkin(world: World) -> Audited:
    from tests.access.fhir_fixtures import import_resources, patient
    from tests.medications.conftest import add_resources, medication
    from tests.web.test_portal_checkin_once import _walk

    import_resources(world.rt, world.tmp_path, [patient("aud-2", language="es")])
    now = world.rt.clock.now()
    add_resources(world.rt, "aud-2", medication("MedicationRequest", "aud-2-met", when=now))
    _walk(world.api_client("patient", patient_id="aud-2"))
    return Audited("user:", "create", "fhir-resource", "aud-2")


def ride_webhook(world: World) -> Audited:
    from tests.access.test_ride_webhooks import _client, _event, _post, _requested_ride

    from careloop.models import AccessRide

    rt = world.rt
    ride_id = _requested_ride(rt, rt.clock, world.tmp_path)
    response = _post(_client(rt), rt.clock, _event(ride_id, "confirmed"))
    assert response.status_code == 200, response.text
    with rt.transaction() as session:
        ride = session.get(AccessRide, ride_id)
        assert ride is not None
        patient_id = ride.patient_id
    return Audited("ride-broker", "update", "ride", patient_id)


ENTRY_POINTS: dict[str, Callable[[World], Audited]] = {
    "sms-webhook-reply": sms_reply,
    "voice-key-press": voice_key_press,
    "cli-preferences-set": cli_preferences_set,
    "cli-preferences-show": cli_preferences_show,
    "cli-consent-set": cli_consent_set,
    "api-preferences-patch": api_preferences_patch,
    "api-consent-put": api_consent_put,
    "email-unsubscribe-link": unsubscribe_link,
    "fhir-observation-create": fhir_reading,
    "ride-broker-webhook": ride_webhook,
    "portal-checkin": portal_checkin,
}


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TWILIO_TOKEN)


@pytest.mark.parametrize("entry_point", sorted(ENTRY_POINTS))
def test_each_entry_point_audits_who_did_what_to_whose_data(
    entry_point: str, rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    world = World(rt, tmp_path, api_client)
    with rt.transaction() as session:
        before = session.scalar(select(func.coalesce(func.max(AuditEvent.id), 0)))

    expected = ENTRY_POINTS[entry_point](world)

    with rt.transaction() as session:
        rows = session.scalars(select(AuditEvent).where(AuditEvent.id > before)).all()
    verified = runner.invoke(
        cli_app, ["audit", "verify", "--json", "--database", rt.settings.database_url]
    )
    found = [
        (r.actor, r.action, r.resource, r.patient_id)
        for r in rows
        if r.actor.startswith(expected.actor)
        and r.action == expected.action
        and r.resource.startswith(expected.resource)
        and r.patient_id == expected.patient_id
    ]
    assert found, [(r.actor, r.action, r.resource, r.patient_id) for r in rows]
    assert (verified.exit_code, json.loads(verified.stdout)["ok"]) == (0, True), verified.output


def test_a_retried_sms_webhook_is_audited_once(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    world = World(rt, tmp_path, api_client)
    sms_reply(world)
    params = {
        "From": "+15550100101",
        "To": "+15550009999",
        "Body": "Can someone call me about my results?",
        "MessageSid": "SMaudit1",
    }
    _twilio(world, "/webhooks/twilio/sms", params)  # Twilio retrying the same message
    with rt.transaction() as session:
        replies = session.scalars(
            select(AuditEvent).where(AuditEvent.resource == "inbound-reply")
        ).all()
    assert [(r.actor, r.source, r.detail["reply"]) for r in replies] == [
        (f"patient:{PATIENT_A}", "sms", "SMaudit1")
    ]
    assert A_PHONE not in json.dumps([r.detail for r in replies])


NOT_PHI = "no patient's data"
ROUTES: dict[str, str] = {
    # route (METHOD path): the entry point above that proves its audit row, or why none
    "POST /webhooks/twilio/sms": "sms-webhook-reply",
    "POST /webhooks/twilio/voice/gather": "voice-key-press",
    "POST /webhooks/twilio/voice/answer": "TwiML for a call already audited as sent",
    "POST /webhooks/twilio/voice/inbound": NOT_PHI + " (asks the caller for a birth date)",
    "POST /webhooks/twilio/voice/inbound/verify": "audited read (outreach.inbound_calls)",
    "POST /webhooks/twilio/status": "delivery state of a message, " + NOT_PHI,
    "POST /webhooks/rides": "ride-broker-webhook",
    "POST /unsubscribe/{token}": "email-unsubscribe-link",
    "PUT /api/patients/{patient_id}/consent": "api-consent-put",
    "PATCH /api/patients/{patient_id}/preferences": "api-preferences-patch",
    "POST /fhir/Observation": "fhir-observation-create",
    "POST /fhir/MedicationAdministration": "records.resources audits, as fhir-observation",
    "POST /fhir/QuestionnaireResponse": "records.resources audits, as fhir-observation",
    "POST /fhir": "records.resources audits, as fhir-observation",
    "POST /fhir/{resource_type}/_search": "audited read (web.api.fhir)",
    "DELETE,GET,PATCH,POST,PUT /fhir/{path:path}": "answers 404/405, touches nothing",
    "POST /fhir/auth/token": "security event, audited (fhir_auth)",
    "POST /fhir/Subscription": NOT_PHI + " (a client's subscription)",
    "DELETE /fhir/Subscription/{subscription_id}": NOT_PHI,
    "DELETE /fhir/$export-status/{export_id}": NOT_PHI + " (cancels a job)",
    "POST /api/auth/token": "security event, audited",
    "POST /api/auth/session": "security event, audited",
    "DELETE /api/auth/session": "security event",
    "POST /api/auth/revoke": "security event",
    "POST /api/portal/code": NOT_PHI + " (answers the same for anyone)",
    "POST /api/portal/verify": "security event, audited",
    "POST /api/patients/{patient_id}/proxy-grants": "audited (web.api.portal)",
    "DELETE /api/patients/{patient_id}/proxy-grants/{grant_id}": "audited (web.api.portal)",
    "POST /api/patients/{patient_id}/portal-contacts": "audited (web.api.portal)",
    "PUT /api/patients/{patient_id}/caregivers/{caregiver_id}/availability": "audited",
    "POST /api/alerts/{item_id}/acknowledge": "audited (careteam.alerts)",
    "POST /api/alerts/{item_id}/assign": "audited (careteam.alerts)",
    "POST /api/alerts/{item_id}/link": "audited (careteam.alerts)",
    "POST /api/alerts/{item_id}/resolve": "audited (careteam.alerts)",
    "POST /api/patients/{patient_id}/plan-adjustments": "audited (careteam.proposals)",
    "POST /console/patients/{patient_id}/plan-adjustments": "audited (careteam.proposals)",
    "POST /api/plan-adjustments/{adjustment_id}/approve": "audited (careteam.plans)",
    "POST /api/plan-adjustments/{adjustment_id}/reject": "audited (careteam.plans)",
    "POST /api/content/versions/{version_id}/approve": NOT_PHI + " (message library)",
    "POST /api/content/messages/{message}/versions": NOT_PHI + " (message library)",
    "POST /api/content/render": NOT_PHI + " (sample values)",
    "POST /api/content/versions/{version_id}/retire": NOT_PHI + " (message library)",
    "POST /api/rewards/{entry_id}/fulfilment": "audited (web.api.loyalty)",
    "POST /api/programs/{name}/run": "audited (web.api.programs)",
    "POST /console/content/versions/{version_id}/approve": NOT_PHI + " (message library)",
    "POST /console/fhir-deliveries/{note_id}/retry": "audited when delivered (fhir.delivery)",
    "POST /console/patients/{patient_id}/forms": "audited (forms.service)",
    "POST /console/patients/{patient_id}/portal-invite": "audited (console.invite)",
    "POST /console/patients/{patient_id}/messages": "audited (console.messages)",
    "POST /console/patients/{patient_id}/tools": "records.resources audits the CarePlan",
    "POST /console/sign-in": "security event, audited",
    "POST /console/sign-out": "security event",
    "POST /console/worklist/{item_id}/acknowledge": "audited (careteam.alerts)",
    "POST /console/worklist/{item_id}/assign": "audited (careteam.alerts)",
    "POST /console/worklist/{item_id}/resolve": "audited (careteam.alerts)",
    "POST /console/plan-adjustments/{adjustment_id}/approve": "audited (careteam.plans)",
    "POST /console/plan-adjustments/{adjustment_id}/reject": "audited (careteam.plans)",
    "POST /portal/book/{token}": "audited (access.links)",
    "POST /portal/checkin": "portal-checkin",
    "POST /portal/forms/{token}": "audited (forms.service)",
    "POST /portal/messages": "audited (portal.home)",
    "POST /portal/medicines": "audited (portal.medicines)",
    "POST /portal/preferences": "audited (portal.preferences)",
    "POST /portal/readings": "audited portal page (audit_as) and records.resources",
    "POST /portal/sign-in": NOT_PHI + " (answers the same for anyone)",
    "POST /portal/sign-out": "security event",
    "POST /portal/verify": "security event, audited",
    "POST /portal/visits/book": "audited (portal.visits)",
    "POST /portal/visits/{booking_id}/{action}": "audited (portal.visits)",
}


def test_every_route_that_changes_something_is_accounted_for() -> None:
    """A new POST/PUT/PATCH/DELETE route must be added above: with the entry point whose test
    proves it audited, or the reason it writes no patient's data."""
    app = create_app()
    changing = {
        f"{','.join(sorted(r.methods or ()))} {r.path}"
        for r in app.routes
        if isinstance(r, Route) and set(r.methods or ()) - {"GET", "HEAD"}
    }
    assert sorted(changing - set(ROUTES)) == []
    assert sorted(set(ROUTES) - changing) == []
