"""A patient texting STOP, HELP, START and a free reply, through the public URL behind a proxy,
each request signed by Twilio's own ``RequestValidator``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient
from tests.outreach.test_outreach_webhooks import TOKEN, twilio_token
from twilio.request_validator import RequestValidator

from careloop.governance.consent import consent_decision
from careloop.models import OutboxMessage, WorklistItem
from careloop.runtime import Runtime

PUBLIC = "https://care.example.org"
PATH = "/webhooks/twilio/sms"
__all__ = ["twilio_token"]  # the auth token is set for these tests too


@pytest.fixture(autouse=True)
def behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio calls the proxy's https URL; careloop itself listens on plain http."""
    monkeypatch.setenv("CARELOOP_SECURITY__PUBLIC_BASE_URL", PUBLIC)


def _text(client: Any, sender: str, body: str, sid: str) -> Any:
    params = {"From": sender, "To": "+16175550100", "Body": body, "MessageSid": sid}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC + PATH, params)
    return client.post(PATH, data=params, headers={"X-Twilio-Signature": signature})


def _sms_allowed(rt: Runtime, patient_id: str) -> bool:
    with rt.transaction() as session:
        return consent_decision(
            session,
            patient_id=patient_id,
            purpose="care-reminders",
            channel="sms",
            now=rt.clock.now(),
        ).allowed


def _answers(rt: Runtime, patient_id: str) -> list[str | None]:
    with rt.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.patient_id == patient_id, OutboxMessage.channel == "sms")
            .order_by(OutboxMessage.id)
        ).all()
        return [r.content_message for r in rows]


def test_a_patient_never_texted_gets_stop_help_start_answered_behind_a_proxy(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    """A patient whose EHR number is written ``(617) 555-0199`` texts from +16175550199 to a
    careloop behind a TLS proxy: STOP stops texts and is confirmed, HELP is answered, START
    restores texts and is confirmed too, and a free reply reaches the nurse's worklist."""
    make_loop([], {})  # the approved content library
    make_patient(rt, patient_id="pk", phone="(617) 555-0199")
    client = api_client(None)
    sender = "+16175550199"

    stop = _text(client, sender, "STOP", "SMk1")
    stopped = _sms_allowed(rt, "pk")
    help_ = _text(client, sender, "HELP", "SMk2")
    start = _text(client, sender, "START", "SMk3")
    started = _sms_allowed(rt, "pk")
    free = _text(client, sender, "Can I bring my daughter?", "SMk4")

    assert [r.status_code for r in (stop, help_, start, free)] == [200, 200, 200, 200]
    assert (stopped, started) == (False, True)
    assert _answers(rt, "pk") == [
        "opt_out_confirmation",
        "help_reply",
        "opt_in_confirmation",
    ]
    with rt.transaction() as session:
        tasks = session.scalars(select(WorklistItem)).all()
    assert [(t.patient_id, t.rule_id) for t in tasks] == [("pk", "outreach-reply")]


def test_a_spanish_patients_parar_and_accented_reply_are_signed_and_understood(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    """Twilio signs the decoded UTF-8 form: "¿Puedo ir el viernes? 🙏" reaches the worklist and
    "Parar" stops texts, with the confirmation in Spanish."""
    make_loop([], {})
    make_patient(rt, patient_id="ps", phone="+16175550188", language="es")
    client = api_client(None)

    free = _text(client, "+16175550188", "¿Puedo ir el viernes? 🙏", "SMs1")
    stop = _text(client, "+16175550188", "Parar", "SMs2")

    with rt.transaction() as session:
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.patient_id == "ps")).all()
        tasks = session.scalars(select(WorklistItem)).all()
        answers = [(r.content_message, r.language) for r in rows]
    assert (free.status_code, stop.status_code) == (200, 200)
    assert not _sms_allowed(rt, "ps")
    assert answers == [("opt_out_confirmation", "es")]
    assert [t.rule_id for t in tasks] == ["outreach-reply"]
