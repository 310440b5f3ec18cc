"""A text the care team typed during the patient's night tells the patient, in their
portal inbox, the time it will really reach their phone (the end of their quiet hours, as
the console tells the nurse), not the minute it was typed. Found walking the demo: the
portal said "We will text you on Monday 7 December, 6:35 AM" at 6:50 for a text held to 8:00."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from careloop.runtime import Runtime
from tests.web.test_console_nurse_words import _typed_message

Client = Callable[..., Any]


def _scheduled(page: str) -> str:
    return page.split('data-testid="scheduled">')[1].split("</span>")[0]


def test_a_text_held_by_quiet_hours_says_the_morning_it_will_come(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    # 14:00 UTC is 23:00 in Tokyo: inside the default quiet hours (21:00-08:00).
    _typed_message(rt, tmp_path, zone="Asia/Tokyo")

    page = api_client("patient", patient_id="p-001").get("/portal/messages?lang=en")

    assert page.status_code == 200, page.text
    assert _scheduled(page.text) == "We will text you on Tuesday 3 March, 8:00 AM"
    assert "11:00 PM" not in page.text


def test_a_text_typed_in_the_patients_day_says_now(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _typed_message(rt, tmp_path, zone="America/New_York")  # 09:00 there

    page = api_client("patient", patient_id="p-001").get("/portal/messages?lang=en")

    assert _scheduled(page.text) == "We will text you on Monday 2 March, 9:00 AM"
