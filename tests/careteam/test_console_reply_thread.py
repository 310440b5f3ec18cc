"""A reply card shows the conversation, not only the latest text: the patient's messages and
what careloop and the care team sent, oldest first, each with its time in the clinic's zone
(and the patient's), its channel and who wrote it; the read is audited as message content."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from careloop.channels.keywords import Keyword
from careloop.models import AuditEvent
from careloop.outreach.messages import queue_staff_message
from careloop.runtime import Runtime
from tests.outreach.conftest import Loop, make_patient, reply

FEVER_ANSWER = (
    "If this is an emergency, call 911. Your care team will read your message soon. If you"
    " have a fever during cancer treatment, call us now at (555) 010-0199."
)


def _staff(loop: Loop, patient_id: str, body: str, channel: str) -> None:
    """A care-team message queued by a nurse (the worker sends it)."""
    with loop.rt.transaction() as session:
        queue_staff_message(
            session, patient_id=patient_id, body=body, channel=channel, clock=loop.clock, actor="x"
        )


def _card(page: str, text: str) -> str:
    cards = re.findall(r'<article class="card item".*?</article>', page, re.S)
    [card] = [c for c in cards if text in c]
    return card


def _lines(card: str) -> list[str]:
    items = re.findall(r'data-testid="thread-message">(.*?)</li>', card, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", i)).split()) for i in items]


def test_a_reply_card_shows_the_conversation_in_order_with_time_channel_and_who(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Any
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001", timezone="America/Chicago")
    loop = make_loop([], {})
    _staff(loop, "p1", "How are you feeling after Monday's infusion?", "sms")
    loop.work()
    loop.advance(timedelta(minutes=7))
    reply(
        loop,
        sender="+15550100001",
        body="Tired, and my mouth hurts",
        keyword=Keyword.FREE_TEXT,
        sid="SM1",
    )
    loop.advance(timedelta(minutes=3))
    reply(
        loop,
        sender="+15550100001",
        body="Also a fever of 38.4 tonight",
        keyword=Keyword.FREE_TEXT,
        sid="SM2",
    )
    coordinator = api_client("coordinator")

    page = coordinator.get("/console/worklist")

    assert page.status_code == 200, page.text
    card = _card(page.text, "Patient message mentions fever")
    assert _lines(card) == [
        "2026-03-02 09:00 EST · 08:00 CST patient's time · Care team · Text message"
        " How are you feeling after Monday's infusion?",
        "2026-03-02 09:07 EST · 08:07 CST patient's time · Patient · Text message"
        " Tired, and my mouth hurts",
        "2026-03-02 09:10 EST · 08:10 CST patient's time · Patient · Text message"
        " Also a fever of 38.4 tonight",
        "2026-03-02 09:10 EST · 08:10 CST patient's time · careloop, automated · Text message"
        " · queued " + FEVER_ANSWER,
    ]
    with rt.transaction() as session:
        reads = session.scalars(
            select(AuditEvent.resource).where(
                AuditEvent.action == "read", AuditEvent.patient_id == "p1"
            )
        ).all()
    assert "patient-messages" in reads


def test_a_reply_to_a_message_older_than_the_cards_messages_is_still_the_patients(
    rt: Runtime, make_loop: Callable[..., Loop], api_client: Any
) -> None:
    make_patient(rt, patient_id="p2", phone="+15550100002", email="p2@example.org")
    loop = make_loop([], {})
    _staff(loop, "p2", "A text", "sms")
    for n in range(6):
        loop.advance(timedelta(minutes=1))
        _staff(loop, "p2", f"E-mail {n}", "email")
    loop.work()
    loop.advance(timedelta(minutes=1))
    reply(loop, sender="+15550100002", body="Got your text", keyword=Keyword.FREE_TEXT, sid="SM9")

    page = api_client("nurse").get("/console/worklist")

    assert page.status_code == 200, page.text
    lines = _lines(_card(page.text, "Read the patient"))
    assert len(lines) == 6
    assert lines[-1].endswith("· Patient · Text message Got your text")
