"""On a call: red-flag words said are answered on the call, a key the menu did not offer is
asked again, never filed as a task (through Twilio-signed webhooks, TwiML parsed as XML)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient
from tests.outreach.test_outreach_webhooks import CARE_TEAM, _post, twilio_token

from careloop.conversations.free_text import RED_FLAG_RULE
from careloop.models import OutboxMessage, WorklistItem
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

PHONE = "+16175550131"
OURS = "+15550009999"
CALL = "CAcall1"
__all__ = ["twilio_token"]  # the webhook tests' fixture: the auth token, the care team's number


def _called(rt: Runtime, make_loop: Callable[..., Loop], *, language: str = "es") -> int:
    """A reminder call placed to the patient (sent, Twilio's call sid on it)."""
    make_patient(rt, patient_id="pv", phone=PHONE, language=language)
    make_loop([], {})
    now = rt.clock.now()
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="voice:pv",
                    patient_id="pv",
                    purpose="care-reminders",
                    channel="voice",
                    to_address=PHONE,
                    sender=OURS,
                    body="Hola Rosa, su cita es mañana.",
                    language=language,
                    due_at=now,
                )
            ],
            now=now,
        )
        assert row is not None
        row.state, row.sent_at, row.provider_id = "sent", now, CALL
        return row.id


def _gather(client: Any, m: int, attempt: int = 1, **said: str) -> Any:
    path = f"/webhooks/twilio/voice/gather?m={m}" + (f"&attempt={attempt}" if attempt > 1 else "")
    params = {"CallSid": CALL, "From": OURS, "To": PHONE, "Direction": "outbound-api", **said}
    return _post(client, path, params)


def _twiml(response: Any) -> ElementTree.Element:
    assert response.status_code == 200, response.text
    return ElementTree.fromstring(response.text)


def _items(rt: Runtime) -> list[WorklistItem]:
    with rt.transaction() as session:
        return list(session.scalars(select(WorklistItem)))


def _queued(rt: Runtime) -> list[OutboxMessage]:
    with rt.transaction() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.state == "queued")))


def test_red_flag_words_said_on_a_call_are_answered_on_the_call_in_its_language(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop)
    client = api_client(None)

    answer = _twiml(
        _post(
            client,
            f"/webhooks/twilio/voice/answer?m={m}",
            {
                "CallSid": CALL,
                "AnsweredBy": "human",
                "From": OURS,
                "To": PHONE,
            },
        )
    )
    said = _twiml(_gather(client, m, SpeechResult="Mi mamá tiene dolor de pecho", Confidence="0.9"))

    [gather, *_] = answer.iter("Gather")
    assert "speech" in (gather.get("input") or "")  # words can be said, not only keys
    assert gather.get("language") == "es-US"
    [item] = _items(rt)
    assert (item.rule_id, item.severity) == (RED_FLAG_RULE, "urgent")
    says = [(s.text or "", s.get("language"), s.get("voice")) for s in said.iter("Say")]
    text, language, voice = says[0]
    assert (language, voice) == ("es-US", "Polly.Lupe")
    assert text.startswith("Lo que nos dijo necesita atención ahora")
    assert "Rosa" not in text
    # Then the care team, never the menu again as if nothing was said.
    assert [d.text for d in said.iter("Dial")] == [CARE_TEAM]
    assert list(said.iter("Gather")) == []
    assert not any("Oprima" in t or "Adiós" in t for t, _, _ in says)
    assert _queued(rt) == []  # nothing texted or called back to a phone that is on the call


def test_words_said_that_name_no_red_flag_are_read_by_a_person_and_the_call_ends_politely(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop)

    said = _twiml(_gather(api_client(None), m, SpeechResult="llego un poco tarde"))

    [item] = _items(rt)
    assert (item.rule_id, item.severity) == ("outreach-reply", "routine")
    assert [s.text for s in said.iter("Say")] == ["Gracias. Adiós."]


@pytest.mark.parametrize("key", ["7", "*", ""])
def test_a_key_the_menu_did_not_offer_is_asked_again_once_never_filed(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any], key: str
) -> None:
    m = _called(rt, make_loop)
    client = api_client(None)

    first = _twiml(_gather(client, m, Digits=key))
    second = _twiml(_gather(client, m, attempt=2, Digits=key))

    [again] = first.iter("Gather")
    asked = [s.text for s in again.iter("Say")]
    assert asked == [
        "Perdón, no entendí su respuesta.",
        "Oprima 1 para confirmar. Oprima 2 para hablar con alguien.",
    ]
    assert parse_qs(urlsplit(again.get("action") or "").query) == {
        "m": [str(m)],
        "attempt": ["2"],
    }
    assert [s.text for s in second.iter("Say")] == ["Gracias. Adiós."]
    assert list(second.iter("Gather")) == []
    assert _items(rt) == []  # nothing for a person to read


def test_a_menu_key_pressed_when_asked_again_is_not_lost(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop)
    client = api_client(None)

    _gather(client, m, Digits="7")
    _gather(client, m, attempt=2, Digits="2")

    [item] = _items(rt)
    assert (item.rule_id, item.title) == ("outreach-call-back", "Patient asked to talk to someone")


def test_an_answered_call_with_nothing_pressed_asks_once_more_in_its_language(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop)

    answer = _twiml(
        _post(
            api_client(None),
            f"/webhooks/twilio/voice/answer?m={m}",
            {"CallSid": CALL, "AnsweredBy": "human", "From": OURS, "To": PHONE},
        )
    )

    _, again = answer.iter("Gather")
    assert (again.get("action") or "").endswith(f"?m={m}&attempt=2")
    assert next(s.text for s in again.iter("Say")) == "Perdón, no entendí su respuesta."
    assert [s.text for s in answer if s.tag == "Say"] == ["Gracias. Adiós."]


def test_chest_pain_said_after_a_fever_text_renames_the_more_pressing_task(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    m = _called(rt, make_loop)
    client = api_client(None)
    text = {"From": PHONE, "To": OURS, "Body": "tengo fiebre", "MessageSid": "SMf1"}
    _post(client, "/webhooks/twilio/sms", text)

    _gather(client, m, SpeechResult="ahora me duele el pecho")

    [item] = _items(rt)
    assert (item.severity, item.title) == (
        "urgent",
        "Patient message mentions chest pain - read now",
    )
