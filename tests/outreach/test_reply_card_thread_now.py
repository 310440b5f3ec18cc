"""A reply card's thread is "the last few messages": messages queued for later (a
week of reminders already decided) sort by their due time, after the patient's reply, and
push the patient's words out of the six lines the card shows."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from tests.outreach.conftest import Loop, make_patient, reply

from careloop.channels.keywords import Keyword
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime


def _lines(page: str, text: str) -> list[str]:
    cards = re.findall(r'<article class="card item".*?</article>', page, re.S)
    [card] = [c for c in cards if text in c]
    items = re.findall(r'data-testid="thread-message">(.*?)</li>', card, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", i)).split()) for i in items]


def test_messages_queued_for_later_do_not_hide_the_patients_reply(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Any
) -> None:
    make_patient(rt, patient_id="p9", phone="+15550100009", timezone="America/Chicago")
    loop = make_loop([], {})
    reply(loop, sender="+15550100009", body="Fever of 38.6 since noon",
          keyword=Keyword.FREE_TEXT, sid="SMf")  # fmt: skip
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"later:{n}",
                    patient_id="p9",
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100009",
                    body=f"Reminder for day {n}.",
                    program="medication-reminders",
                    due_at=now + timedelta(days=n),
                )
                for n in range(1, 8)
            ],
            now=now,
        )

    page = api_client("nurse").get("/console/worklist")

    assert page.status_code == 200, page.text
    lines = _lines(page.text, "fever")
    assert any("Fever of 38.6 since noon" in line for line in lines), lines
