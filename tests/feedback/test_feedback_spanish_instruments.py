"""PHQ-9, GAD-7 and the adherence check-in asked in Spanish, one question per message.

The PHQ-9 and GAD-7 Spanish item text is Pfizer's "Spanish for the USA" translation (free to
reproduce, translate and display); the stored answers keep the LOINC codes and LOINC's own
(English) displays, so scores and rules are the same in every language.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.feedback import conversation as conv
from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import read_checkin

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
PHQ9 = "http://loinc.org/q/44249-1"
GAD7 = "http://loinc.org/q/69737-5"


def _prompts(name: str, language: str, channel: str = "sms") -> list[str]:
    state = conv.start(default_catalog().get(name), channel=channel, language=language)
    prompts = []
    while (prompt := conv.next_prompt(state)) is not None:
        prompts.append(prompt)
        state, _ = conv.accept_reply(state, "1", NOW)
    return prompts


def test_the_phq9_is_asked_in_spanish_with_spanish_answers() -> None:
    prompts = _prompts(PHQ9, "es")
    assert prompts[0] == (
        "(1/10) Poco interés o placer en hacer cosas Responda 0-3: 0 Ningún día, 1 Varios días, "
        "2 Más de la mitad de los días, 3 Casi todos los días."
    )
    assert prompts[8].startswith("(9/10) Pensamientos de que estaría mejor muerto(a)")
    assert "Extremadamente difícil" in prompts[9]
    assert not any("Several days" in p for p in prompts)


def test_the_gad7_is_asked_in_spanish_and_never_is_nunca() -> None:
    prompts = _prompts(GAD7, "es", channel="voice")
    assert len(prompts) == 7
    assert prompts[0].startswith("(1/7) Sentirse nervioso(a), intranquilo(a)")
    assert "Oprima 0-3: 0 Nunca, 1 Varios días" in prompts[0]


def test_english_is_unchanged() -> None:
    assert _prompts(PHQ9, "en")[0] == (
        "(1/10) Little interest or pleasure in doing things Reply 0-3: 0 Not at all, "
        "1 Several days, 2 More than half the days, 3 Nearly every day."
    )


def test_the_adherence_checkin_is_asked_in_spanish() -> None:
    prompts = _prompts("careloop-medication-adherence", "es")
    assert prompts[0].startswith("(1/3) En los últimos 7 días")
    assert "5 Llegar a la farmacia o a la clínica" in prompts[1]


@pytest.mark.parametrize("reply", ["2", "dos", "más de la mitad"])
def test_a_spanish_answer_is_stored_with_the_loinc_code_and_loinc_display(reply: str) -> None:
    questionnaire = default_catalog().get(PHQ9)
    state = conv.start(questionnaire, channel="sms", language="es")
    state, _ = conv.accept_reply(state, reply, NOW)
    response = conv.to_response(
        state, response_id="r1", patient_ref="Patient/p1", authored=NOW, questionnaire=questionnaire
    )
    ((link_id, answer),) = state.answers
    assert link_id == "44250-9"
    assert answer == {
        "valueCoding": {
            "system": "http://loinc.org",
            "code": "LA6570-1",
            "display": "More than half the days",
        }
    }
    response["status"] = "in-progress"
    checkin = read_checkin(questionnaire, response, now=NOW)
    assert checkin.answers["http://loinc.org|44250-9"].number == 2
