"""HELP, STOP and START from a caregiver's phone are answered in the caregiver's language.

The caregiver of an English-speaking patient who reads Spanish was told "You're unsubscribed"
in English. The confirmation is the caregiver's: their recorded language, else the patient's,
else the clinic's. Through Twilio's signed webhook and the worker, as in production.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient
from tests.outreach.test_outreach_webhooks import _post as signed_post
from tests.outreach.test_outreach_webhooks import twilio_token

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime

PATIENT = "+15550100071"
CAREGIVER = "+15550100072"
SENDER = "+15550009999"
__all__ = ["twilio_token"]  # the webhook tests' fixture: the auth token the signature uses

# Words each language's confirmation says at every reading level (lower case).
HELP = {"en": "call 911", "es": "emergencias, 911", "pt": "emergência: 911"}
STOPPED = {"en": "reply start", "es": "no recibirá", "pt": "você não"}
STARTED = {"en": "msg & data rates", "es": "pueden aplicar tarifas", "pt": "pode haver"}


def _text(client: Any, body: str, sid: str) -> None:
    params = {"From": CAREGIVER, "To": SENDER, "Body": body, "MessageSid": sid}
    assert signed_post(client, "/webhooks/twilio/sms", params).status_code == 200


def _caregiver(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    *,
    patient_language: str | None,
    caregiver_language: str | None,
    copied: bool,
) -> Loop:
    """A patient with a caregiver, who was sent a copy of a reminder (``copied``) or never
    anything."""
    make_patient(
        rt,
        patient_id="pk",
        phone=PATIENT,
        language=patient_language,
        caregiver={"phone": CAREGIVER, "language": caregiver_language},
    )
    loop = make_loop([], {})
    if copied:
        now = rt.clock.now()
        with rt.transaction() as session:
            enqueue(
                session,
                message=NewMessage(
                    idempotency_key="copy:pk",
                    patient_id="pk",
                    purpose="care-reminders",
                    channel="sms",
                    to_address=CAREGIVER,
                    body="Reminder: Rosa has a visit on Friday.",
                    due_at=now,
                    recipient_kind="caregiver",
                    caregiver_id="pk-cg",
                ),
                now=now,
            )
        loop.work()
        loop.sms.sent.clear()
    return loop


def _texted_to_caregiver(loop: Loop) -> list[str]:
    loop.advance(timedelta(minutes=1))
    loop.work()
    return [s.message.body for s in loop.sms.sent if s.message.to == CAREGIVER]


@pytest.mark.parametrize(
    ("patient_language", "caregiver_language", "clinic_language", "expected"),
    [
        ("en", "es", "en", "es"),  # the caregiver's own
        ("es", "pt", "en", "pt"),  # never the patient's when the caregiver's is recorded
        (None, None, "es", "es"),  # neither recorded: the clinic's
    ],
)
def test_a_caregivers_help_stop_and_start_are_confirmed_in_the_caregivers_language(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    api_client: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
    patient_language: str | None,
    caregiver_language: str | None,
    clinic_language: str,
    expected: str,
) -> None:
    monkeypatch.setenv("CARELOOP_OUTREACH__CLINIC_LANGUAGE", clinic_language)
    loop = _caregiver(
        rt,
        make_loop,
        patient_language=patient_language,
        caregiver_language=caregiver_language,
        copied=True,
    )
    client = api_client(None)

    _text(client, "HELP", "SMcghelp")
    [helped] = _texted_to_caregiver(loop)
    _text(client, "STOP", "SMcgstop")
    [stopped] = _texted_to_caregiver(loop)[1:]
    _text(client, "UNSTOP", "SMcgunstop")
    [started] = _texted_to_caregiver(loop)[2:]

    assert HELP[expected] in helped.lower()
    assert STOPPED[expected] in stopped.lower()
    assert STARTED[expected] in started.lower()
    with rt.transaction() as session:
        answers = session.scalars(
            select(OutboxMessage).where(OutboxMessage.idempotency_key.startswith("reply:"))
        ).all()
    assert {(a.language, a.caregiver_id, a.to_address) for a in answers} == {
        (expected, "pk-cg", CAREGIVER)
    }


def test_a_caregiver_never_texted_before_is_confirmed_in_their_own_language(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Callable[..., Any]
) -> None:
    """A STOP from a caregiver's number that was never sent anything: still the caregiver's."""
    loop = _caregiver(rt, make_loop, patient_language="en", caregiver_language="es", copied=False)

    _text(api_client(None), "STOP", "SMcgfirststop")

    [stopped] = _texted_to_caregiver(loop)
    assert STOPPED["es"] in stopped.lower()
