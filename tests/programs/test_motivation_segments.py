"""Psychographic segments from the motivation check-in, and the framing it states (issue 25)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from program_fixtures import import_patients, patient

from careloop.careteam.intake import receive_questionnaire_response
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.personalize.service import get_profile
from careloop.programs.motivation import MOTIVATIONS, QUESTIONNAIRE_URL, SYSTEM, motivation_of
from careloop.programs.segments.rules import compile_rule
from careloop.programs.segments.service import segment_membership
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER

ITEMS = ("matters-most", "book-checkup", "reminder-works")
PSYCHOGRAPHIC = [f"motivated-by-{m}" for m in MOTIVATIONS]


def motivation_response(pid: str, answers: tuple[str, ...], at: datetime) -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "subject": {"reference": f"Patient/{pid}"},
        "authored": at.isoformat(),
        "item": [
            {"linkId": link, "answer": [{"valueCoding": {"system": SYSTEM, "code": code}}]}
            for link, code in zip(ITEMS, answers, strict=True)
        ],
    }


def _answer(rt: Runtime, clock: FrozenClock, pid: str, answers: tuple[str, ...]) -> None:
    with rt.transaction() as session:
        receive_questionnaire_response(
            session, motivation_response(pid, answers, clock.now()), clock=clock,
            principal=SYSTEM_WORKER, source="portal", channel="portal",
        )  # fmt: skip


def test_answers_make_segments_and_a_stated_framing_and_a_later_answer_moves_them(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    import_patients(rt, tmp_path, [[patient(p, birth="1960-02-01")] for p in ("ana", "bea", "cyd")])
    _answer(rt, clock, "ana", ("family", "family", "convenience"))
    _answer(rt, clock, "bea", ("independence", "avoiding-problems", "convenience"))

    with rt.transaction() as session:
        before = segment_membership(
            session, names=PSYCHOGRAPHIC, patient_ids=["ana", "bea", "cyd"], now=clock.now()
        )
        framing = get_profile(session, patient_id="ana").stated.framing
    assert before == {
        "ana": {"motivated-by-family"},
        "bea": {"motivated-by-independence"},  # a three-way tie: what matters most decides
        "cyd": set(),
    }
    assert framing == "social"

    clock.advance(timedelta(days=30))
    _answer(rt, clock, "ana", ("convenience", "convenience", "family"))
    with rt.transaction() as session:
        after = segment_membership(
            session, names=PSYCHOGRAPHIC, patient_ids=["ana"], now=clock.now()
        )
        framing = get_profile(session, patient_id="ana").stated.framing
    assert after == {"ana": {"motivated-by-convenience"}}
    assert framing == "convenience"


@given(st.lists(st.sampled_from(MOTIVATIONS), min_size=3, max_size=3))
def test_the_stated_motivation_is_a_plurality_of_the_answers(answers: list[str]) -> None:
    response = motivation_response("p", tuple(answers), datetime(2026, 1, 1))
    stated = motivation_of(response)
    assert stated in answers
    assert answers.count(stated) == max(answers.count(a) for a in answers)  # type: ignore[arg-type]


def test_an_unknown_motivation_names_the_rule() -> None:
    with pytest.raises(InvalidInput) as caught:
        compile_rule({"motivation": ["fear"]})
    assert caught.value.field == "rule.motivation"
