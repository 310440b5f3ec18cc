"""RFC 3464 bounces (DSNs) map back to the Message-ID we sent, permanent or not."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.channels.bounces import parse_bounce
from careloop.channels.email_smtp import build_email, message_id_for
from careloop.channels.errors import FailureReason
from careloop.channels.messages import ChannelKind, DeliveryStatus, EmailParts, OutboundMessage
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def sent_headers() -> tuple[str, str]:
    """The headers of a message exactly as our adapter builds it, and its Message-ID."""
    message_id = message_id_for("outbox-9", domain="clinic.example")
    message = OutboundMessage(
        channel=ChannelKind.EMAIL,
        to="gone@example.org",
        body="Your screening is due.",
        idempotency_key="outbox-9",
        email=EmailParts(subject="Screening", unsubscribe_url="https://clinic.example/u/1"),
    )
    built = build_email(
        message,
        from_address="reminders@clinic.example",
        message_id=message_id,
        clock=FrozenClock(NOW),
    )
    headers = "".join(f"{k}: {v}\r\n" for k, v in built.items())
    return headers, message_id


def postfix_dsn(*, action: str, status: str, returned: str, returned_type: str) -> bytes:
    """A bounce in the shape Postfix sends (multipart/report; report-type=delivery-status)."""
    return (
        "From: MAILER-DAEMON@mx.example.org (Mail Delivery System)\r\n"
        "To: bounces@clinic.example\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/report; report-type=delivery-status;\r\n"
        '\tboundary="7A1B23C4D5.1772463600/mx.example.org"\r\n'
        "\r\n"
        "--7A1B23C4D5.1772463600/mx.example.org\r\n"
        "Content-Description: Notification\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n"
        "\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n"
        "\r\n"
        "--7A1B23C4D5.1772463600/mx.example.org\r\n"
        "Content-Description: Delivery report\r\n"
        "Content-Type: message/delivery-status\r\n"
        "\r\n"
        "Reporting-MTA: dns; mx.example.org\r\n"
        "X-Postfix-Queue-ID: 7A1B23C4D5\r\n"
        "Arrival-Date: Mon,  2 Mar 2026 14:00:01 +0000 (UTC)\r\n"
        "\r\n"
        "Final-Recipient: rfc822; gone@example.org\r\n"
        "Original-Recipient: rfc822;gone@example.org\r\n"
        f"Action: {action}\r\n"
        f"Status: {status}\r\n"
        "Remote-MTA: dns; mail.example.org\r\n"
        f"Diagnostic-Code: smtp; 550 {status} <gone@example.org>: Recipient address rejected\r\n"
        "\r\n"
        "--7A1B23C4D5.1772463600/mx.example.org\r\n"
        "Content-Description: Undelivered Message Headers\r\n"
        f"Content-Type: {returned_type}\r\n"
        "\r\n"
        f"{returned}\r\n"
        "--7A1B23C4D5.1772463600/mx.example.org--\r\n"
    ).encode()


def test_a_hard_bounce_is_permanent_and_names_our_message_id() -> None:
    headers, message_id = sent_headers()
    raw = postfix_dsn(
        action="failed", status="5.1.1", returned=headers, returned_type="text/rfc822-headers"
    )
    (report,) = parse_bounce(raw, reported_at=NOW)
    assert (report.provider_id, report.status) == (message_id, DeliveryStatus.BOUNCED)
    assert report.failure is not None
    assert (report.reason, report.failure.permanent) == (FailureReason.INVALID_ADDRESS, True)


def test_a_delay_notice_is_transient() -> None:
    headers, _ = sent_headers()
    raw = postfix_dsn(
        action="delayed", status="4.4.1", returned=headers, returned_type="text/rfc822-headers"
    )
    (report,) = parse_bounce(raw, reported_at=NOW)
    assert report.status is DeliveryStatus.DELAYED
    assert report.failure is not None
    assert report.failure.permanent is False


def test_the_returned_full_message_works_as_well_as_its_headers() -> None:
    headers, message_id = sent_headers()
    raw = postfix_dsn(
        action="failed",
        status="5.7.1",
        returned=headers + "\r\nbody\r\n",
        returned_type="message/rfc822",
    )
    (report,) = parse_bounce(raw, reported_at=NOW)
    assert (report.provider_id, report.reason) == (message_id, FailureReason.BLOCKED)


def test_a_success_notice_yields_no_bounce() -> None:
    headers, _ = sent_headers()
    raw = postfix_dsn(
        action="delivered", status="2.0.0", returned=headers, returned_type="text/rfc822-headers"
    )
    assert parse_bounce(raw, reported_at=NOW) == []


def test_an_auto_reply_is_not_mistaken_for_a_bounce() -> None:
    raw = b"From: ana@example.net\r\nSubject: Out of office\r\n\r\nBack on Monday.\r\n"
    with pytest.raises(InvalidInput) as error:
        parse_bounce(raw, reported_at=NOW)
    assert error.value.field == "dsn"


def test_a_bounce_without_the_original_headers_is_reported_not_dropped() -> None:
    raw = postfix_dsn(
        action="failed",
        status="5.1.1",
        returned="X-Nothing: here\r\n",
        returned_type="text/rfc822-headers",
    )
    with pytest.raises(InvalidInput):
        parse_bounce(raw, reported_at=NOW)
