"""Twilio webhooks: signed requests only; STOP, confirm, free text and receipts through HTTP."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, make_patient, program
from twilio.request_validator import RequestValidator

from careloop.governance.consent import consent_decision
from careloop.models import Enrollment, OutboxMessage, WorklistItem
from careloop.outreach.eligibility import Candidate
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

TOKEN = "test-auth-token"
BASE = "http://127.0.0.1:8000"
CARE_TEAM = "+16175550100"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__CARE_TEAM_NUMBER", CARE_TEAM)


def _post(client: Any, path: str, params: dict[str, str], *, forge: bool = False) -> Any:
    signature = RequestValidator("wrong" if forge else TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _sent_loop(rt: Runtime, make_loop: Callable[..., Loop], phone: str) -> Loop:
    make_patient(rt, patient_id="pw", phone=phone)
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["sms"]})],
        {"screening-test": [Candidate("pw", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    return loop


def test_forged_signature_is_refused(api_client: Callable[..., Any]) -> None:
    client = api_client(None)
    params = {"From": "+15550100009", "To": "+15550009999", "Body": "STOP", "MessageSid": "SM9"}

    assert _post(client, "/webhooks/twilio/sms", params, forge=True).status_code == 403
    assert client.post("/webhooks/twilio/sms", data=params).status_code == 403


def test_a_refused_signature_logs_the_address_it_was_checked_against(
    api_client: Callable[..., Any], rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    """Behind a proxy the usual cause of 403s is a wrong ``security.public_base_url``: the log
    names the public address the signature was checked against (route template only), and
    nothing of the message."""
    client = api_client(None)
    params = {"From": "+15550100009", "To": "+15550009999", "Body": "STOP", "MessageSid": "SM9"}
    with caplog.at_level(logging.WARNING, logger="careloop.web.webhooks"):
        assert _post(client, "/webhooks/twilio/sms", params, forge=True).status_code == 403
    refused = [r for r in caplog.records if r.getMessage() == "twilio signature refused"]
    base = rt.settings.security.public_base_url.rstrip("/")
    assert [r.checked_url for r in refused] == [f"{base}/webhooks/twilio/sms"]  # type: ignore[attr-defined]
    assert "+15550100009" not in caplog.text
    assert "STOP" not in caplog.text


def test_stop_over_http_opts_out_at_once_and_queues_a_confirmation(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    phone = "+15550100007"
    _sent_loop(rt, make_loop, phone)
    client = api_client(None)
    params = {"From": phone, "To": "+15550009999", "Body": "Stop", "MessageSid": "SMstop"}

    response = _post(client, "/webhooks/twilio/sms", params)
    again = _post(client, "/webhooks/twilio/sms", params)

    assert (response.status_code, again.status_code) == (200, 200)
    with rt.transaction() as session:
        decision = consent_decision(
            session, patient_id="pw", purpose="care-reminders", channel="sms", now=rt.clock.now()
        )
        enrollment = session.scalars(select(Enrollment)).one()
        confirmations = session.scalars(
            select(OutboxMessage).where(OutboxMessage.enrollment_id.is_(None))
        ).all()
    assert not decision.allowed
    assert enrollment.state == "opted-out"
    assert len(confirmations) == 1


def test_free_text_lands_on_the_care_team_worklist(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    phone = "+15550100008"
    _sent_loop(rt, make_loop, phone)
    params = {
        "From": phone,
        "To": "+15550009999",
        "Body": "Can I come on Friday instead?",
        "MessageSid": "SMtext",
    }

    response = _post(api_client(None), "/webhooks/twilio/sms", params)

    with rt.transaction() as session:
        enrollment = session.scalars(select(Enrollment)).one()
        tasks = session.scalars(select(WorklistItem)).all()
    assert response.status_code == 200
    assert enrollment.state == "responded"
    assert [t.rule_id for t in tasks] == ["outreach-reply"]


def test_delivery_receipt_marks_the_message_delivered(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    _sent_loop(rt, make_loop, "+15550100006")
    with rt.transaction() as session:
        row = session.scalars(select(OutboxMessage).where(OutboxMessage.channel != "portal")).one()
    path = f"/webhooks/twilio/status?m={row.id}"
    params = {"MessageSid": str(row.provider_id), "MessageStatus": "delivered"}

    response = _post(api_client(None), path, params)

    with rt.transaction() as session:
        delivered = session.get(OutboxMessage, row.id)
    assert response.status_code == 204
    assert delivered is not None
    assert delivered.state == "delivered"


def test_help_from_a_number_we_never_texted_is_answered_in_the_reply(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    make_loop([], {})  # the approved content library
    client = api_client(None)
    params = {"From": "+16175550142", "To": "+15550009999", "Body": "HELP", "MessageSid": "SMh"}

    response = _post(client, "/webhooks/twilio/sms", params)

    answer = ElementTree.fromstring(response.text).findall("Message")
    assert response.status_code == 200
    assert len(answer) == 1
    assert (answer[0].text or "").strip() != ""


def test_help_without_the_content_library_is_a_warning_not_a_silent_drop(
    api_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    """`careloop content sync` never ran: the answer cannot be rendered, and the log says so
    (without the sender's number)."""
    phone = "+16175550143"
    params = {"From": phone, "To": "+15550009999", "Body": "HELP", "MessageSid": "SMh2"}

    with caplog.at_level("WARNING", logger="careloop.outreach"):
        response = _post(api_client(None), "/webhooks/twilio/sms", params)

    assert response.status_code == 200
    warned = [r.getMessage() for r in caplog.records if r.name == "careloop.outreach"]
    assert any(m.startswith("help answer not sent on sms") for m in warned), warned
    assert not any(phone in m or "0143" in m for m in warned)


@pytest.mark.parametrize(
    ("answered_by", "hears_script"), [("human", True), ("machine_end_beep", False)]
)
def test_an_answered_call_speaks_the_rendered_script_in_the_patients_language(
    rt: Runtime, api_client: Callable[..., Any], answered_by: str, hears_script: bool
) -> None:
    make_patient(rt, patient_id="pv", phone="+16175550123", language="es")
    script = "Hola Ana, su mamografía está pendiente."
    voicemail = "Le llama su equipo de salud. Llame al 555 0100."
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="voice:pv",
                    patient_id="pv",
                    purpose="care-reminders",
                    channel="voice",
                    to_address="+16175550123",
                    body=script,
                    language="es",
                    due_at=rt.clock.now(),
                    extra={"voicemail_text": voicemail},
                )
            ],
            now=rt.clock.now(),
        )
        assert row is not None
        message_id = row.id
    client = api_client(None)
    params = {"CallSid": "CA1", "AnsweredBy": answered_by, "From": "+15550009999"}

    response = _post(client, f"/webhooks/twilio/voice/answer?m={message_id}", params)

    said = ElementTree.fromstring(response.text).iter("Say")
    spoken = [(s.text, s.get("language")) for s in said]
    assert response.status_code == 200
    assert ((script, "es-US") in spoken) is hears_script
    assert (voicemail, "es-US") in spoken or hears_script
    assert all(language == "es-US" for _, language in spoken)


def test_a_spanish_call_has_a_spanish_menu_voice_and_goodbye(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    make_patient(rt, patient_id="pvs", phone="+16175550124", language="es")
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="voice:pvs",
                    patient_id="pvs",
                    purpose="care-reminders",
                    channel="voice",
                    to_address="+16175550124",
                    body="Hola Ana, su cita es mañana.",
                    language="es",
                    due_at=rt.clock.now(),
                    extra={"voicemail_text": "Le llama su equipo de salud."},
                )
            ],
            now=rt.clock.now(),
        )
        assert row is not None
        message_id = row.id
    client = api_client(None)

    answer = _post(
        client,
        f"/webhooks/twilio/voice/answer?m={message_id}",
        {"CallSid": "CA2", "AnsweredBy": "human", "From": "+15550009999"},
    )
    pressed = _post(
        client,
        f"/webhooks/twilio/voice/gather?m={message_id}",
        {"CallSid": "CA2", "Digits": "1", "From": "+16175550124", "To": "+15550009999"},
    )

    says = [
        (s.text, s.get("voice"), s.get("language"))
        for s in ElementTree.fromstring(answer.text).iter("Say")
    ]
    goodbye = [s.text for s in ElementTree.fromstring(pressed.text).iter("Say")]
    assert (
        "Oprima 1 para confirmar. Oprima 2 para hablar con alguien.",
        "Polly.Lupe",
        "es-US",
    ) in says
    assert says[-1] == ("Gracias. Adiós.", "Polly.Lupe", "es-US")  # nobody pressed a key
    assert not any("Press" in (text or "") for text, _, _ in says)
    assert (pressed.status_code, goodbye) == (200, ["Gracias. Adiós."])


def _inbound_patient(rt: Runtime) -> None:
    from datetime import date

    from careloop.models import Patient

    make_patient(rt, patient_id="pin", phone="+16175550125")
    now = rt.clock.now()
    with rt.transaction() as session:
        patient = session.get(Patient, "pin")
        assert patient is not None
        patient.birth_date = date(1961, 4, 9)
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="sms:pin",
                    patient_id="pin",
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+16175550125",
                    body="Your mammogram is due. Call us to book.",
                    due_at=now,
                )
            ],
            now=now,
        )
        assert row is not None
        row.state, row.sent_at = "sent", now


@pytest.mark.parametrize(
    ("caller", "digits", "hears_message"),
    [
        ("+16175550125", "04091961", True),  # the patient, verified
        ("+16175550125", "01011970", False),  # the right phone, the wrong date of birth
        ("+16175550125", "0", False),  # asks for the care team
        ("+16175550999", "04091961", False),  # a number we do not know
    ],
)
def test_an_inbound_call_reads_the_latest_message_only_to_a_verified_caller(
    rt: Runtime,
    api_client: Callable[..., Any],
    caller: str,
    digits: str,
    hears_message: bool,
) -> None:
    from careloop.models import AuditEvent

    _inbound_patient(rt)
    client = api_client(None)
    call = {"CallSid": "CAin", "From": caller, "To": "+15550009999", "Direction": "inbound"}

    greeting = _post(client, "/webhooks/twilio/voice/inbound", call)
    keyed = _post(client, "/webhooks/twilio/voice/inbound/verify", {**call, "Digits": digits})

    greeted = ElementTree.fromstring(greeting.text)
    answer = ElementTree.fromstring(keyed.text)
    said = " ".join(s.text or "" for s in answer.iter("Say"))
    dialled = [d.text for d in answer.iter("Dial")]
    with rt.transaction() as session:
        reads = session.scalars(
            select(AuditEvent).where(AuditEvent.resource == "patient-message")
        ).all()
    assert (greeting.status_code, keyed.status_code) == (200, 200)
    assert ("Your mammogram is due" in said) is hears_message
    assert dialled == ([] if hears_message else [CARE_TEAM])
    assert len(reads) == int(hears_message)
    # Nothing about care is said before the date of birth is keyed in.
    assert "mammogram" not in " ".join(s.text or "" for s in greeted.iter("Say"))


def test_a_spanish_caller_is_greeted_with_the_care_teams_spanish_name(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    """Not "le atiende your care team": the greeting names the team as Spanish text signs it."""
    from careloop.models import Patient

    _inbound_patient(rt)
    with rt.transaction() as session:
        patient = session.get(Patient, "pin")
        assert patient is not None
        patient.language = "es"
    call = {"CallSid": "CAes", "From": "+16175550125", "To": "+15550009999"}
    greeting = _post(api_client(None), "/webhooks/twilio/voice/inbound", call)
    said = " ".join(s.text or "" for s in ElementTree.fromstring(greeting.text).iter("Say"))
    assert said.startswith("Hola, le atiende su equipo de salud.")


@pytest.fixture
def voice_account(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__ACCOUNT__ACCOUNT_SID", "ACvoice")
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__ACCOUNT__AUTH_TOKEN", "voice-token")
    return "voice-token"


def test_a_call_on_its_own_twilio_account_is_answered_under_that_accounts_signature(
    voice_account: str, rt: Runtime, api_client: Callable[..., Any]
) -> None:
    make_patient(rt, patient_id="pva", phone="+16175550124")
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="voice:pva",
                    patient_id="pva",
                    purpose="care-reminders",
                    channel="voice",
                    to_address="+16175550124",
                    body="Your screening is due.",
                    due_at=rt.clock.now(),
                )
            ],
            now=rt.clock.now(),
        )
        assert row is not None
        path = f"/webhooks/twilio/voice/answer?m={row.id}"
    params = {"CallSid": "CA9", "AnsweredBy": "human", "From": "+15550009999"}
    signature = RequestValidator(voice_account).compute_signature(BASE + path, params)

    response = api_client(None).post(path, data=params, headers={"X-Twilio-Signature": signature})

    assert response.status_code == 200
    assert "Your screening is due." in response.text
