"""Weekdays in the portal's sentences about a message or confirmation still to come: Portuguese
says "na segunda-feira" and "no sábado", never "em segunda-feira"; English says "on Monday",
never "at Monday" ("Vamos ligar para confirmar ...", "We will call you on ...")."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from careloop.access.sending import booked_key
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from careloop.runtime import Runtime
from careloop.web.portal.confirmation import confirmation_words
from careloop.web.portal.i18n import translator
from tests.access.fhir_fixtures import import_resources, patient
from tests.web.test_portal_walk import _queue, _text

ZONE = "America/New_York"


def test_a_message_still_to_come_is_on_the_weekday_with_its_article(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    import_resources(rt, tmp_path, [patient("p-001", language="pt")])
    _queue(rt, "sms", "Lembrete.", hours=3, state=OutboxState.QUEUED)  # Monday
    _queue(rt, "voice", "Lembrete.", hours=24 * 5, state=OutboxState.QUEUED)  # Saturday
    _queue(rt, "email", "Lembrete.", hours=24 * 6, state=OutboxState.QUEUED)  # Sunday

    text = _text(
        api_client("patient", patient_id="p-001").get("/portal/messages?patient=p-001").text
    )

    assert "Vamos mandar uma mensagem de texto para você na segunda-feira, 2 de março" in text
    assert "Vamos ligar para você no sábado, 7 de março" in text
    assert "Vamos mandar um e-mail para você no domingo, 8 de março" in text
    assert " em segunda-feira" not in text
    assert " em sábado" not in text


def test_the_booking_confirmation_call_is_on_the_weekday_with_its_article(rt: Runtime) -> None:
    with rt.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key=f"request:{booked_key('b-1')}",
                patient_id="p-001",
                purpose="care-reminders",
                channel="voice",
                to_address="+15550109001",
                body="Sua consulta está marcada.",
                due_at=rt.clock.now() + timedelta(hours=3),
            ),
            now=rt.clock.now(),
        )
        assert row is not None
        said = confirmation_words(
            session, booking_id="b-1", t=translator("pt"), zone=ZONE, language="pt-BR"
        )

    assert said.startswith("Vamos ligar para confirmar na segunda-feira, 2 de março")


def test_english_says_a_message_still_to_come_is_on_its_day(
    rt: Runtime, tmp_path: Path, api_client: Callable[..., Any]
) -> None:
    """ "We will text you on Monday 2 March, ...", never "at Monday": a day takes "on"."""
    import_resources(rt, tmp_path, [patient("p-001", language="en")])
    _queue(rt, "sms", "Reminder.", hours=3, state=OutboxState.QUEUED)  # Monday
    _queue(rt, "voice", "Reminder.", hours=24 * 5, state=OutboxState.QUEUED)  # Saturday

    text = _text(
        api_client("patient", patient_id="p-001").get("/portal/messages?patient=p-001").text
    )

    assert "We will text you on Monday 2 March" in text
    assert "We will call you on Saturday 7 March" in text
    assert " at Monday" not in text
    assert " at Saturday" not in text
