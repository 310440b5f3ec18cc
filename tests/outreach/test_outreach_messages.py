"""Two-way messaging: the conversation, care-team messages through the worker, portal replies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.outreach.conftest import Loop, make_patient, reply

from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind
from careloop.channels.portal import PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.compose.worker import build_worker
from careloop.conversations.portal_replies import receive_portal_reply
from careloop.errors import Conflict, InvalidInput
from careloop.events import list_events
from careloop.governance.consent import record_consent
from careloop.models import InboundReply, OutboxMessage
from careloop.outreach.messages import conversation, queue_staff_message
from careloop.outreach.portal_inbox import DatabasePortalInbox, mark_read_for_patient
from careloop.runtime import Runtime

NURSE = "user:nurse-1"


def _send(loop: Loop, *, body: str, channel: str | None = "sms") -> int:
    with loop.rt.transaction() as session:
        row = queue_staff_message(
            session, patient_id="p1", body=body, channel=channel, clock=loop.clock, actor=NURSE
        )
        return row.id


def test_staff_message_is_queued_due_now_and_sent_by_the_worker(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})

    outbox_id = _send(loop, body="  Your lab results are in; call us when you can.  ")
    report = loop.work()

    with rt.transaction() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        assert (row.state, row.channel, row.to_address) == ("sent", "sms", "+15550100001")
        assert row.body == "Your lab results are in; call us when you can."
        assert row.due_at == loop.clock.now()
    assert report.sent == 1
    assert [m.body for m in loop.sms.sent_to("+15550100001")] == [row.body]


def test_conversation_merges_messages_and_replies_newest_first(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})
    _send(loop, body="First message")
    loop.work()
    loop.advance(timedelta(minutes=5))
    reply(
        loop, sender="+15550100001", body="Thanks, will call", keyword=Keyword.FREE_TEXT, sid="SM1"
    )
    loop.advance(timedelta(minutes=5))
    _send(loop, body="Second message")

    with rt.transaction() as session:
        items = conversation(session, patient_id="p1")

    assert [(i.direction, i.body) for i in items] == [
        ("out", "Second message"),
        ("in", "Thanks, will call"),
        ("out", "First message"),
    ]
    assert items[0].state == "queued"
    assert items[2].from_care_team


def test_message_without_consent_is_refused(rt: Runtime, make_loop: Callable[..., Loop]) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})
    with rt.transaction() as session:
        record_consent(
            session,
            patient_id="p1",
            purpose="care-reminders",
            channel="*",
            status="denied",
            source="staff",
            actor=NURSE,
            now=loop.clock.now(),
        )

    with pytest.raises(Conflict, match="not agreed"):
        _send(loop, body="Hello", channel="sms")
    with pytest.raises(Conflict, match="not agreed"):
        _send(loop, body="Hello", channel=None)
    with rt.transaction() as session:
        assert session.scalars(select(OutboxMessage)).all() == []


@pytest.mark.parametrize("body", ["", "   ", "x" * 1001])
def test_empty_or_long_message_is_refused_naming_the_field(
    rt: Runtime, make_loop: Callable[..., Loop], body: str
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})

    with pytest.raises(InvalidInput) as err:
        _send(loop, body=body)

    assert err.value.field == "body"


def test_portal_reply_reaches_the_care_team_as_inbound_and_replied(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})
    _send(loop, body="How is the new dose?")
    loop.work()
    loop.advance(timedelta(minutes=3))

    with rt.transaction() as session:
        outcome = receive_portal_reply(
            session, patient_id="p1", body="A bit dizzy", ctx=loop.inbound()
        )
    with rt.transaction() as session:
        stored = session.scalars(select(InboundReply)).one()
        replied = list_events(session, patient_id="p1", kinds=["replied"])
        items = conversation(session, patient_id="p1")

    assert (stored.channel, stored.body, stored.patient_id) == ("portal", "A bit dizzy", "p1")
    assert outcome.handled_as == "care-team-inbox"
    assert len(replied) == 1
    assert [title for _rule, title in loop.tasks()] == ["Read the patient's reply"]
    assert (items[0].direction, items[0].body) == ("in", "A bit dizzy")


@pytest.mark.parametrize("answers_a_message", [True, False])
def test_the_same_portal_form_posted_twice_is_one_reply(
    rt: Runtime, make_loop: Callable[..., Loop], answers_a_message: bool
) -> None:
    """A double click posts the form twice with its one key: one reply, one event, once in
    the conversation (with or without a message of ours to answer)."""
    make_patient(rt, patient_id="p1", phone="+15550100001")
    loop = make_loop([], {})
    if answers_a_message:
        _send(loop, body="How is the new dose?")
        loop.work()
    key = "5" * 32

    outcomes = []
    for _ in range(2):
        with rt.transaction() as session:
            outcomes.append(
                receive_portal_reply(
                    session,
                    patient_id="p1",
                    body="Fever since noon",
                    ctx=loop.inbound(),
                    reply_key=key,
                )
            )
    with rt.transaction() as session:
        stored = session.scalars(select(InboundReply)).all()
        replied = list_events(session, patient_id="p1", kinds=["replied"])
        items = [i for i in conversation(session, patient_id="p1") if i.direction == "in"]

    assert [o.duplicate for o in outcomes] == [False, True]
    assert [(r.body, r.provider_id) for r in stored] == [
        ("Fever since noon", f"portal-reply:{key}")
    ]
    assert len(replied) == 1
    assert [i.body for i in items] == ["Fever since noon"]


def test_portal_message_is_kept_in_the_database_inbox_and_read(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    make_patient(rt, patient_id="p1", phone=None)
    loop = make_loop([], {})
    registry = ChannelRegistry({ChannelKind.PORTAL: PortalChannel(inbox=DatabasePortalInbox(rt))})
    worker = build_worker(rt, worker_id="portal-worker", channels=registry)
    worker.sleep = lambda _s: None

    outbox_id = _send(loop, body="Your appointment moved to 3 pm", channel=None)
    worker.run(once=True)
    loop.advance(timedelta(hours=1))
    with rt.transaction() as session:
        read = mark_read_for_patient(session, clock=loop.clock, patient_id="p1")
    with rt.transaction() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        delivered = list_events(session, patient_id="p1", kinds=["delivered"])

    assert read == 1
    assert (row.channel, row.state) == ("portal", "delivered")
    assert row.extra["portal_read_at"] == loop.clock.now().isoformat()
    assert len(delivered) == 1


def test_a_double_click_on_send_queues_one_message(rt: Runtime, api_client) -> None:  # type: ignore[no-untyped-def]
    """One click = one message: the form carries a key, and a repeated post of that form
    (a double click, a resubmission) finds the message the first one queued."""
    import re

    make_patient(rt, patient_id="p-click", phone="+15550100031")
    nurse = api_client("clinician")
    page = "/console/patients/p-click"

    def form_key() -> str:
        html = nurse.get(page).text
        found = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', html)
        assert found is not None
        return found.group(1)

    key = form_key()
    form = {"body": "Please call the clinic.", "channel": "sms", "idempotency_key": key}
    answers = [nurse.post(f"{page}/messages", data=form, follow_redirects=False) for _ in "12"]
    again = nurse.post(
        f"{page}/messages", data={**form, "idempotency_key": form_key()}, follow_redirects=False
    )

    with rt.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.patient_id == "p-click")
        ).all()
    assert [a.status_code for a in [*answers, again]] == [303, 303, 303]
    assert len(rows) == 2  # the double click queued one; the next form, a second message
    assert rows[0].idempotency_key == f"staff:p-click:{key}"
