"""The SMS / keypad check-in state machine: parsing, re-asking, handing over to staff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.feedback import conversation as conv
from careloop.feedback.catalog import default_catalog
from careloop.feedback.checkins import read_checkin, with_total

NOW = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def _state(name: str, channel: str = "sms") -> conv.ConversationState:
    return conv.start(default_catalog().get(name), channel=channel)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("3", 3),
        ("three", 3),
        ("Tres", 3),
        ("it's a 2 today", 2),
        ("3/4", 3),
        ("3 out of 4", 3),
        ("0-4 scale", None),
        ("maybe", None),
        ("2 or 3", None),
        ("cuatro", 4),
    ],
)
def test_replies_are_read_as_one_number_or_not_at_all(text: str, number: int | None) -> None:
    assert conv.parse_number(text, high=4) == number


def test_one_question_per_message_until_done() -> None:
    state = _state("careloop-medication-adherence")
    assert conv.next_prompt(state).startswith("(1/3) In the last 7 days")  # type: ignore[union-attr]
    state, step = conv.accept_reply(state, "dos", NOW)
    assert step is conv.Step.NEXT
    state, step = conv.accept_reply(state, "cost", NOW)
    assert step is conv.Step.NEXT
    state, step = conv.accept_reply(state, "Sí", NOW)
    assert (step, state.status) == (conv.Step.DONE, conv.ConversationStatus.COMPLETED)
    assert dict(state.answers)["barrier"]["valueCoding"]["code"] == "cost"


def test_nonsense_is_re_asked_twice_then_left_to_staff() -> None:
    state = _state("careloop-oncology-symptom-diary")
    state, first = conv.accept_reply(state, "0-4 scale", NOW)
    state, second = conv.accept_reply(state, "what?", NOW)
    state, third = conv.accept_reply(state, "banana", NOW)
    assert (first, second, third) == (conv.Step.REPROMPT, conv.Step.REPROMPT, conv.Step.DONE)
    assert state.status is conv.ConversationStatus.NEEDS_STAFF
    assert "care team will follow up" in conv.closing_message(state)


def test_an_out_of_range_grade_is_re_asked() -> None:
    state, step = conv.accept_reply(_state("careloop-oncology-symptom-diary"), "7", NOW)
    assert step is conv.Step.REPROMPT
    assert conv.reprompt_message(state).startswith("Sorry")


def test_the_voice_keypad_takes_digits_and_star_repeats() -> None:
    state = _state("careloop-touchpoint-feedback", channel="voice")
    assert "Press a number from 0 to 10" in conv.next_prompt(state)  # type: ignore[operator]
    state, step = conv.accept_keypad(state, "*", NOW)
    assert step is conv.Step.REPROMPT
    assert state.reasks == 0
    state, step = conv.accept_keypad(state, "10#", NOW)
    state, step = conv.accept_keypad(state, "4", NOW)
    assert step is conv.Step.DONE
    assert state.answers == (
        ("likely-to-recommend", {"valueInteger": 10}),
        ("satisfaction", {"valueInteger": 4}),
    )


def test_phq9_by_sms_is_answered_with_its_0_to_3_scores_and_validates() -> None:
    questionnaire = default_catalog().get("phq-9")
    state = conv.start(questionnaire)
    assert "0 Not at all" in conv.next_prompt(state)  # type: ignore[operator]
    for reply in ["1", "2", "0", "3", "1", "0", "0", "1", "0", "1"]:
        state, _ = conv.accept_reply(state, reply, NOW)
    assert state.status is conv.ConversationStatus.COMPLETED
    response = conv.to_response(
        state, questionnaire=questionnaire, response_id="r1", patient_ref="Patient/p1", authored=NOW
    )
    checkin = read_checkin(questionnaire, response, now=NOW)
    filled = with_total(questionnaire, response, checkin.total)
    assert checkin.total == 8
    assert [i["linkId"] for i in response["item"]] == ["phq9"]
    assert filled["item"][0]["item"][-1] == {"linkId": "44261-6", "answer": [{"valueDecimal": 8}]}


def test_the_state_survives_a_round_trip_through_storage() -> None:
    state, _ = conv.accept_reply(_state("careloop-oncology-symptom-diary"), "2", NOW)
    assert conv.ConversationState.from_dict(state.to_dict()) == state
