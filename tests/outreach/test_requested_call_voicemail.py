"""A call a workflow asked for (``request_message``: prep checks, plan changes, the demo's flu
reminder) reaches an answering machine: Twilio fetches the answer URL with
``AnsweredBy=machine_end_beep``, signed as Twilio signs it, and the machine must record the
voicemail-safe line in the patient's language, not an empty ``<Say/>`` (walk4)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest
from tests.outreach.conftest import make_patient, sync_content
from twilio.request_validator import RequestValidator

from careloop.outreach.config import outreach_settings
from careloop.outreach.requests import request_message
from careloop.runtime import Runtime

TOKEN = "walk-auth-token"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)


def _answer(client: Any, rt: Runtime, message_id: int, answered_by: str) -> list[Any]:
    base = rt.settings.security.public_base_url.rstrip("/")
    path = f"/webhooks/twilio/voice/answer?m={message_id}"
    params = {
        "CallSid": f"CA{'a' * 32}",
        "AccountSid": f"AC{'b' * 32}",
        "From": "+16175550100",
        "To": "+16175550163",
        "CallStatus": "in-progress",
        "Direction": "outbound-api",
        "AnsweredBy": answered_by,
    }
    signature = RequestValidator(TOKEN).compute_signature(base + path, params)
    response = client.post(path, data=params, headers={"X-Twilio-Signature": signature})
    assert response.status_code == 200, response.text
    return list(ElementTree.fromstring(response.text).iter("Say"))


def test_a_requested_spanish_call_leaves_a_spanish_voicemail_on_a_machine(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    make_patient(rt, patient_id="rosa", phone="+16175550163", language="es")
    sync_content(rt)
    with rt.transaction() as session:
        asked = request_message(
            session, patient_id="rosa", message="flu_shot_due", purpose="care-reminders",
            key="walk:rosa", now=rt.clock.now(), clock=rt.clock, settings=rt.settings,
            allowed_channels=("voice",),
        )  # fmt: skip
    assert asked.outbox_id is not None, asked.not_queued
    client = api_client(None)

    machine = _answer(client, rt, asked.outbox_id, "machine_end_beep")
    person = _answer(client, rt, asked.outbox_id, "human")

    clinic_phone = outreach_settings(rt.settings)[0].clinic_phone
    assert [s.get("language") for s in machine] == ["es-US"]
    assert "Por favor llame" in (machine[0].text or "")
    assert clinic_phone in (machine[0].text or "")
    assert "gripe" not in (machine[0].text or "")  # nothing about care on a machine
    assert "gripe" in (person[0].text or "")  # a person hears the approved script
