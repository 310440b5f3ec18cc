"""One program through each of the four channels: the parts each channel needs arrive."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from tests.outreach.conftest import SCREENING, Loop, make_patient, program

from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.conversations.inbound import handle_reply
from careloop.models import Enrollment
from careloop.outreach.eligibility import Candidate
from careloop.outreach.worker import BatchReport
from careloop.runtime import Runtime


def _run(rt: Runtime, make_loop: Callable[..., Loop], channel: str) -> Loop:
    make_patient(rt, patient_id=f"c-{channel}", phone="+15550100061", email="rosa@example.org")
    loop = make_loop(
        [program(SCREENING, actions={"channels": [channel]})],
        {"screening-test": [Candidate(f"c-{channel}", "2026")]},
    )
    loop.tick()
    loop.advance(timedelta(days=1))
    loop.work()
    return loop


def test_email_carries_subject_html_and_one_click_unsubscribe(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = _run(rt, make_loop, "email")

    [sent] = loop.email.sent
    assert sent.message.to == "rosa@example.org"
    assert sent.message.email is not None
    assert sent.message.email.subject
    assert sent.message.email.html
    assert "/unsubscribe/" in sent.message.email.unsubscribe_url


def test_portal_message_lands_in_the_patient_inbox(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = _run(rt, make_loop, "portal")

    [item] = loop.inbox.items_for("c-portal")
    assert item.item.title
    assert item.item.body


def test_voice_key_press_is_a_reply_to_the_call(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = _run(rt, make_loop, "voice")
    [call] = loop.voice.sent
    ctx = loop.inbound()
    with rt.transaction() as session:
        outcome = handle_reply(
            session,
            ctx=ctx,
            message=InboundMessage(
                channel=ChannelKind.VOICE,
                sender="+15550100061",
                recipient="+15550009999",
                body="2",
                provider_id="CA1:gather",
                received_at=loop.clock.now(),
                keyword=Keyword.TALK_TO_SOMEONE,
                in_reply_to=call.provider_id,
            ),
            keypad=True,
        )
        enrollment = session.scalars(select(Enrollment)).one()

    assert call.message.voice is not None
    assert "/webhooks/twilio/voice/gather?m=" in call.message.voice.gather_action_url
    assert call.message.voice.voicemail_text
    assert outcome.handled_as == "call-back"
    assert enrollment.state == "responded"
    assert [rule for rule, _title in loop.tasks()] == ["outreach-call-back"]


def test_worker_rides_out_a_database_outage(
    rt: Runtime, make_loop: Callable[..., Loop], monkeypatch: pytest.MonkeyPatch
) -> None:
    loop = make_loop([program(SCREENING)], {})
    results: list[BatchReport | Exception] = [
        OperationalError("SELECT 1", {}, Exception("server closed the connection")),
        BatchReport(claimed=1, sent=1),
        BatchReport(),
    ]

    def run_once(*, batch: int | None = None) -> BatchReport:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(loop.worker, "run_once", run_once)
    report = loop.worker.run(once=True)

    assert (report.sent, results) == (1, [])


def _dsn(message_id: str) -> bytes:
    return (
        "From: MAILER-DAEMON@example.org\r\n"
        "To: bounces@example.org\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n"
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n\r\n"
        "Final-Recipient: rfc822; rosa@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {message_id}\r\nSubject: Your screening\r\n"
        "\r\n--B--\r\n"
    ).encode()


def test_hard_bounce_dead_letters_the_email(rt: Runtime, make_loop: Callable[..., Loop]) -> None:
    from careloop.models import OutboxMessage
    from careloop.outreach.delivery import record_bounce

    loop = _run(rt, make_loop, "email")
    [sent] = loop.email.sent
    with rt.transaction() as session:
        outcomes = record_bounce(session, clock=loop.clock, raw=_dsn(sent.provider_id))
        row = session.scalars(select(OutboxMessage)).one()

    assert [o.found for o in outcomes] == [True]
    assert (row.state, row.dead_reason, row.last_error) == (
        "dead",
        "delivery-failed",
        "invalid-address",
    )
