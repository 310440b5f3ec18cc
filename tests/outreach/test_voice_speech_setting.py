"""``channels.voice.speech=false``: every call menu takes keys only, so Twilio bills no speech
recognition. Each TwiML Twilio fetches (a reminder call's answer, the menu asked again, a
verified caller's latest message) is read with ElementTree from the signed webhooks."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from xml.etree import ElementTree

import pytest
from tests.outreach.conftest import make_patient, sync_content
from tests.outreach.test_outreach_webhooks import _post, twilio_token

from careloop.models import Patient
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

PHONE = "+16175550131"
__all__ = ["twilio_token"]  # the webhook tests' fixture: the auth token the signature uses


def _gathers(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return [g.attrib for g in ElementTree.fromstring(response.text).iter("Gather")]


def _sent(rt: Runtime, channel: str, key: str) -> int:
    """A message to the patient, already sent."""
    now = rt.clock.now()
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=key,
                    patient_id="psp",
                    purpose="care-reminders",
                    channel=channel,
                    to_address=PHONE,
                    body="Your mammogram is due. Call us to book.",
                    due_at=now,
                    language="es",
                )
            ],
            now=now,
        )
        assert row is not None
        row.state, row.sent_at = "sent", now
        return row.id


def _every_menu(rt: Runtime, client: Any) -> list[dict[str, str]]:
    """The Gathers of: a reminder call answered by a person, the menu asked again after
    silence, and a verified caller's menu."""
    make_patient(rt, patient_id="psp", phone=PHONE, language="es")
    sync_content(rt)
    with rt.transaction() as session:
        patient = session.get(Patient, "psp")
        assert patient is not None
        patient.birth_date = date(1961, 4, 9)
    call_id = _sent(rt, "voice", "voice:psp")
    call = {
        "CallSid": "CAspeech",
        "AccountSid": "AC" + "b" * 32,
        "From": "+15550009999",
        "To": PHONE,
        "Direction": "outbound-api",
    }
    answered = _post(
        client, f"/webhooks/twilio/voice/answer?m={call_id}", {**call, "AnsweredBy": "human"}
    )
    again = _post(client, f"/webhooks/twilio/voice/gather?m={call_id}", call)
    inbound = {"CallSid": "CAin", "From": PHONE, "To": "+15550009999", "Direction": "inbound"}
    verified = _post(
        client, "/webhooks/twilio/voice/inbound/verify", {**inbound, "Digits": "04091961"}
    )
    return _gathers(answered) + _gathers(again) + _gathers(verified)


@pytest.fixture
def speech_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the runtime reads its settings."""
    monkeypatch.setenv("CARELOOP_CHANNELS__VOICE__SPEECH", "false")


def test_with_speech_off_no_call_menu_listens_for_words(
    speech_off: None, rt: Runtime, api_client: Callable[..., Any]
) -> None:
    menus = _every_menu(rt, api_client(None))

    # Answer: the menu and its second asking; ask-again: one; verified caller: two.
    assert len(menus) == 5
    assert [m["input"] for m in menus] == ["dtmf"] * 5
    assert all("speechTimeout" not in m and "language" not in m for m in menus)
    assert all(m["numDigits"] == "1" for m in menus)


def test_by_default_every_call_menu_also_listens_for_words_in_the_calls_language(
    rt: Runtime, api_client: Callable[..., Any]
) -> None:
    menus = _every_menu(rt, api_client(None))

    assert len(menus) == 5
    assert {(m["input"], m["language"], m["speechTimeout"]) for m in menus} == {
        ("dtmf speech", "es-US", "auto")
    }
