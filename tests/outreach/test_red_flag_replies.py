"""Free text naming a red-flag symptom is urgent on the worklist and answered at once."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, add_procedure, make_patient, program
from twilio.request_validator import RequestValidator

from careloop.conversations.free_text import RED_FLAG_RULE
from careloop.conversations.portal_replies import receive_portal_reply
from careloop.models import OutboxMessage, WorklistItem
from careloop.outreach.eligibility import Candidate
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

TOKEN = "test-auth-token"
BASE = "http://127.0.0.1:8000"
CHEMOTHERAPY = "367336001"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)


def _text(client: Any, phone: str, body: str, sid: str) -> Any:
    params = {"From": phone, "To": "+15550009999", "Body": body, "MessageSid": sid}
    signature = RequestValidator(TOKEN).compute_signature(BASE + "/webhooks/twilio/sms", params)
    return client.post(
        "/webhooks/twilio/sms", data=params, headers={"X-Twilio-Signature": signature}
    )


def _reminded(rt: Runtime, make_loop: Callable[..., Loop], *, phone: str, language: str) -> Loop:
    """An oncology patient (chemotherapy ten days ago) who was texted a reminder."""
    make_patient(rt, patient_id="onc", phone=phone, language=language)
    add_procedure(rt, patient_id="onc", code=CHEMOTHERAPY, when=rt.clock.now() - timedelta(days=10))
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["sms"]})],
        {"screening-test": [Candidate("onc", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    return loop


def _items(rt: Runtime) -> list[WorklistItem]:
    with rt.transaction() as session:
        return list(session.scalars(select(WorklistItem).order_by(WorklistItem.id)))


def _answers(rt: Runtime) -> list[OutboxMessage]:
    with rt.transaction() as session:
        return list(
            session.scalars(select(OutboxMessage).where(OutboxMessage.enrollment_id.is_(None)))
        )


def test_a_spanish_fever_text_on_chemotherapy_is_urgent_and_answered_in_spanish(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    phone = "+15550100031"
    _reminded(rt, make_loop, phone=phone, language="es")
    words = "Tengo fiebre de 38,5 y escalofríos"

    response = _text(api_client(None), phone, words, "SMfever")

    assert response.status_code == 200
    [item] = _items(rt)
    assert item.rule_id == RED_FLAG_RULE
    assert (item.severity, item.team) == ("urgent", "oncology-nursing")
    assert item.due_at - item.raised_at == timedelta(hours=1)
    assert item.title == "Patient message mentions fever, chills on anticancer therapy - read now"
    finding = item.findings[0]
    assert finding["values"]["symptoms"] == ["fever", "chills"]
    assert finding["values"]["on_therapy"] is True
    assert "fiebre" not in str(item.findings).lower()  # the words stay in the stored reply
    [answer] = _answers(rt)
    assert (answer.channel, answer.to_address, answer.language) == ("sms", phone, "es")
    assert "(555) 010-0199" in answer.body
    assert "Llame ahora" in answer.body  # fever_on_therapy, in Spanish
    assert "Rosa" not in answer.body


def test_a_plain_thanks_stays_routine_with_no_answer(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    phone = "+15550100032"
    _reminded(rt, make_loop, phone=phone, language="en")

    _text(api_client(None), phone, "thanks, see you Friday", "SMthanks")

    [item] = _items(rt)
    assert (item.rule_id, item.severity) == ("outreach-reply", "routine")
    assert item.due_at - item.raised_at == timedelta(hours=72)
    assert _answers(rt) == []


def test_a_text_answering_no_reminder_is_read_too(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    phone = "+15550100033"
    make_patient(rt, patient_id="p9", phone=phone)
    make_loop([], {})

    _text(api_client(None), phone, "I FAINTED this morning", "SMfaint")

    [item] = _items(rt)
    assert (item.rule_id, item.severity) == (RED_FLAG_RULE, "urgent")
    assert item.findings[0]["values"]["symptoms"] == ["fainting"]
    [answer] = _answers(rt)
    assert "911" in answer.body


def test_a_portal_message_about_chest_pain_is_urgent_and_answered_in_the_portal(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone=None)
    loop = make_loop([], {})

    with rt.transaction() as session:
        outcome = receive_portal_reply(
            session, patient_id="p1", body="chest pain, can't breathe", ctx=loop.inbound()
        )

    [item] = _items(rt)
    assert (item.rule_id, item.severity, item.team) == (RED_FLAG_RULE, "urgent", "oncology-nursing")
    assert item.title == "Patient message mentions chest pain, trouble breathing - read now"
    assert outcome.queued_reply
    [answer] = _answers(rt)
    assert (answer.channel, answer.to_address) == ("portal", "p1")
    assert "911" in answer.body


def test_fever_without_chemotherapy_is_high_not_urgent(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p2", phone=None)
    loop = make_loop([], {})

    with rt.transaction() as session:
        receive_portal_reply(session, patient_id="p2", body="I have a fever", ctx=loop.inbound())

    [item] = _items(rt)
    assert (item.rule_id, item.severity) == (RED_FLAG_RULE, "high")
    assert item.due_at - item.raised_at == timedelta(hours=24)
    [answer] = _answers(rt)
    assert answer.body.startswith("If this is an emergency, call 911.")


CAREGIVER = "+15550100035"


def _caregiver_copied(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    *,
    caregiver_language: str | None,
    copy: bool = True,
) -> None:
    """An English-speaking patient whose caregiver (language as recorded) got a copy (or was
    never sent anything)."""
    make_patient(
        rt,
        patient_id="pc",
        phone="+15550100034",
        language="en",
        caregiver={"phone": CAREGIVER, "language": caregiver_language},
    )
    now = rt.clock.now()
    make_loop([], {})
    if not copy:
        return
    with rt.transaction() as session:
        [row] = enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key="copy:pc",
                    patient_id="pc",
                    purpose="care-reminders",
                    channel="sms",
                    to_address=CAREGIVER,
                    body="A copy of the reminder.",
                    due_at=now,
                    recipient_kind="caregiver",
                    caregiver_id="pc-cg",
                )
            ],
            now=now,
        )
        assert row is not None
        row.state, row.sent_at = "sent", now


@pytest.mark.parametrize(
    ("caregiver_language", "language", "words"),
    [("es", "es", "Si es una emergencia"), (None, "en", "If this is an emergency")],
)
def test_a_caregivers_red_flag_is_answered_in_the_caregivers_own_language(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    api_client: Callable[..., Any],
    caregiver_language: str | None,
    language: str,
    words: str,
) -> None:
    _caregiver_copied(rt, make_loop, caregiver_language=caregiver_language)

    _text(api_client(None), CAREGIVER, "mi mamá tiene fiebre de 39", "SMcgfever")

    [item] = _items(rt)
    assert (item.rule_id, item.title) == (
        RED_FLAG_RULE,
        "Caregiver message mentions fever - read now",
    )
    [answer] = [a for a in _answers(rt) if a.idempotency_key.startswith("reply:")]
    assert (answer.to_address, answer.caregiver_id, answer.language) == (
        CAREGIVER,
        "pc-cg",
        language,
    )
    assert answer.body.startswith(words)


def test_a_caregiver_never_texted_before_is_read_as_the_caregiver_not_an_unknown_sender(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    _caregiver_copied(rt, make_loop, caregiver_language="es", copy=False)

    _text(api_client(None), CAREGIVER, "mi mamá tiene fiebre de 39", "SMcgfirst")

    [item] = _items(rt)
    assert (item.patient_id, item.rule_id, item.severity) == ("pc", RED_FLAG_RULE, "high")
    [answer] = [a for a in _answers(rt) if a.idempotency_key.startswith("reply:")]
    assert (answer.to_address, answer.caregiver_id, answer.language) == (CAREGIVER, "pc-cg", "es")
    assert answer.body.startswith("Si es una emergencia")


def test_red_flag_words_from_a_number_nobody_has_are_urgent_and_answered_at_once(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    make_loop([], {})

    response = _text(api_client(None), "+15550100099", "my dad has chest pain", "SMnobody")

    [item] = _items(rt)
    assert (item.rule_id, item.severity, item.patient_id) == ("unknown-sender", "urgent", None)
    assert (
        item.title == "Message from a number that matches no patient mentions chest pain - read now"
    )
    assert item.due_at - item.raised_at == timedelta(hours=1)
    assert "dad" not in str(item.findings)  # the words stay in the stored reply
    [said] = ElementTree.fromstring(response.text).iter("Message")
    assert (said.text or "").startswith("What you told us needs care now")
