"""A keypad check-in on a call: an urgent answer is answered on the call, spoken, in the
patient's language, through the signed Twilio voice webhook (issue 14, patient-side safety).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from careloop.careteam.worklist import list_worklist
from careloop.feedback.dialogue import open_checkin
from careloop.models import OutboxMessage
from careloop.outreach.eligibility import Candidate
from careloop.runtime import Runtime
from tests.feedback.loop_payloads import import_resources
from tests.outreach.conftest import SCREENING, Loop, add_procedure, program

TOKEN = "test-auth-token"
BASE = "http://127.0.0.1:8000"
DIARY = "https://careloop.dev/fhir/Questionnaire/oncology-symptom-diary"
PHONE = "+16175550177"


@pytest.fixture(autouse=True)
def twilio_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARELOOP_CHANNELS__SMS__AUTH_TOKEN", TOKEN)


def _press(client: Any, call_sid: str, digits: str) -> Any:
    params = {
        "CallSid": call_sid,
        "Digits": digits,
        "From": "+15550009999",
        "To": PHONE,
        "Direction": "outbound-api",
    }
    path = "/webhooks/twilio/voice/gather"
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return client.post(path, data=params, headers={"X-Twilio-Signature": signature})


def _spoken(response: Any) -> list[tuple[str, str | None]]:
    return [
        (s.text or "", s.get("language")) for s in ElementTree.fromstring(response.text).iter("Say")
    ]


def _call_started(
    rt: Runtime, make_loop: Callable[..., Loop], tmp_path: Path, *, language: str
) -> str:
    import_resources(
        rt,
        tmp_path,
        {
            "resourceType": "Patient",
            "id": "vc-1",
            "name": [{"family": "Test", "given": ["Rosa"]}],
            "telecom": [{"system": "phone", "value": PHONE, "use": "mobile"}],
            "communication": [
                {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": language}]}}
            ],
        },
    )
    add_procedure(rt, patient_id="vc-1", code="367336001", when=rt.clock.now() - timedelta(days=8))
    loop = make_loop(
        [program(SCREENING, actions={"channels": ["voice"]})],
        {"screening-test": [Candidate("vc-1", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    with rt.transaction() as session:
        call = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "voice")).one()
        # The call asks the diary on the keypad (feedback.dialogue, channel "voice").
        open_checkin(
            session, patient_id="vc-1", questionnaire=DIARY, now=rt.clock.now(), channel="voice"
        )
        assert call.provider_id
        return call.provider_id


@pytest.mark.parametrize(
    ("language", "words", "locale"),
    [("es", "Llame ahora", "es-US"), ("en", "Call your care team now", "en-US")],
)
def test_fever_a_lot_pressed_on_the_keypad_is_answered_on_the_call_in_the_patients_language(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    api_client: Callable[..., Any],
    tmp_path: Path,
    language: str,
    words: str,
    locale: str,
) -> None:
    call_sid = _call_started(rt, make_loop, tmp_path, language=language)
    client = api_client(None)
    # 15 questions; nausea "2" (a grade, not the reminder menu's "talk to someone"), fever
    # or chills (8th) "3" = a lot, the rest 0.
    keys = ["2"] + ["0"] * 6 + ["3"] + ["0"] * 7
    # Each answer is one gather; the next question comes by the reply queue's next call.
    answers = [_press(client, f"{call_sid}-{n}", key) for n, key in enumerate(keys)]
    assert all(r.status_code == 200 for r in answers)
    # Routine answers end the gather with the goodbye (English: the test's gathers name no
    # message, so the call's language is unknown); only the urgent one is advice.
    assert all([text for text, _ in _spoken(r)] == ["Thank you. Goodbye."] for r in answers[:-1])
    ((advice, said_in),) = _spoken(answers[-1])
    assert said_in == locale
    assert words in advice
    assert "Rosa" not in advice  # minimum necessary: no name
    with rt.transaction() as session:
        items = list_worklist(session, now=rt.clock.now())
    assert [(i.rule_id, i.severity) for i in items] == [("febrile-neutropenia-reported", "urgent")]
