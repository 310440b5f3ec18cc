"""A task asking a person to call the patient says the patient's language, and "interpreter
needed" when it is not the clinic's: on the task and on the console's worklist card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from tests.outreach.conftest import Loop
from tests.outreach.test_red_flag_voice import _called, _gather, twilio_token

from careloop.models import WorklistItem
from careloop.runtime import Runtime

__all__ = ["twilio_token"]  # the voice tests' fixture: the auth token the signature uses


@pytest.mark.parametrize(
    ("language", "said", "card"),
    [
        ("es", "Speaks Spanish (es): interpreter needed.", "Speaks Spanish · interpreter needed"),
        ("en", "Speaks English (en).", "Speaks English"),
    ],
)
def test_a_call_back_task_says_the_patients_language_and_when_an_interpreter_is_needed(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    api_client: Callable[..., Any],
    language: str,
    said: str,
    card: str,
) -> None:
    m = _called(rt, make_loop, language=language)

    _gather(api_client(None), m, Digits="2")  # "talk to someone"
    page = api_client("clinician").get("/console/worklist")

    with rt.transaction() as session:
        [item] = session.scalars(select(WorklistItem))
    finding = item.findings[-1]
    assert item.rule_id == "outreach-call-back"
    assert finding["summary"].endswith(said)
    assert finding["values"]["language"] == language
    assert page.status_code == 200
    shown = page.text.split(f'id="item-{item.id}"')[1].split('data-testid="card-language">')[1]
    assert shown.split("</p>")[0] == f"<strong>{card}</strong>"
