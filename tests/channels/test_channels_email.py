"""Email through a real SMTP server on loopback: STARTTLS, AUTH, multipart, unsubscribe headers."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from pydantic import SecretStr

from careloop.channels.email_smtp import SmtpEmailChannel
from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import ChannelKind, DeliveryStatus, EmailParts, OutboundMessage
from careloop.channels.settings import EmailSettings
from careloop.clock import FrozenClock
from tests.channels.smtp_server import (
    GREYLISTED,
    REFUSED,
    SMTP_PASSWORD,
    SMTP_USER,
    Mailbox,
    free_port,
    self_signed_certificate,
    start_smtp,
)

PATIENT = "ana.lopez@example.net"
UNSUBSCRIBE = "https://careloop.example.org/unsubscribe/t0k3n"
CLOCK = FrozenClock(datetime(2026, 3, 2, 14, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def mailbox(certificate: tuple[Path, Path]) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = start_smtp(box, cert=certificate[0], key=certificate[1])
    yield box, controller.port
    controller.stop()


def settings(port: int, cert: Path | None, **changes: object) -> EmailSettings:
    base = EmailSettings(
        provider="smtp",
        host="127.0.0.1",
        port=port,
        starttls=True,
        username=SMTP_USER,
        password=SecretStr(SMTP_PASSWORD),
        from_address="Riverside Clinic <reminders@clinic.example>",
        bounce_address="bounces@clinic.example",
        message_id_domain="clinic.example",
        ca_file=str(cert) if cert else None,
        timeout_seconds=5,
    )
    return base.model_copy(update=changes)


def reminder(to: str = PATIENT, *, key: str = "outbox-42") -> OutboundMessage:
    return OutboundMessage(
        channel=ChannelKind.EMAIL,
        to=to,
        body="Your screening is due. Book at https://clinic.example/book",
        idempotency_key=key,
        email=EmailParts(
            subject="Time for your screening",
            html="<p>Your screening is due. <a href='https://clinic.example/book'>Book</a></p>",
            unsubscribe_url=UNSUBSCRIBE,
            unsubscribe_mailto="unsubscribe@clinic.example",
        ),
    )


def parsed(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_multipart_mail_over_starttls_and_auth_with_one_click_unsubscribe(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    box, port = mailbox
    channel = SmtpEmailChannel(settings=settings(port, certificate[0]), clock=CLOCK)
    result = channel.send(reminder())
    (got,) = box.received
    assert (got.tls, got.authenticated_as) == (True, SMTP_USER)
    assert (got.mail_from, got.rcpt_tos) == ("bounces@clinic.example", [PATIENT])
    mail = parsed(got.content)
    assert result.status is DeliveryStatus.SENT
    assert mail["Message-ID"] == result.provider_id
    assert mail["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>, <mailto:unsubscribe@clinic.example>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Subject"] == "Time for your screening"
    assert mail.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in mail.iter_parts()] == ["text/plain", "text/html"]


def test_the_same_outbox_row_always_gets_the_same_message_id(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    channel = SmtpEmailChannel(settings=settings(mailbox[1], certificate[0]), clock=CLOCK)
    first = channel.send(reminder(key="row-1"))
    again = channel.send(reminder(key="row-1"))
    other = channel.send(reminder(key="row-2"))
    assert first.provider_id == again.provider_id != other.provider_id
    assert "row-1" not in first.provider_id


def test_a_refused_mailbox_is_permanent_and_greylisting_is_transient(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    channel = SmtpEmailChannel(settings=settings(mailbox[1], certificate[0]), clock=CLOCK)
    with pytest.raises(ChannelError) as refused:
        channel.send(reminder(REFUSED))
    with pytest.raises(ChannelError) as later:
        channel.send(reminder(GREYLISTED))
    assert (refused.value.reason, refused.value.permanent) == (FailureReason.INVALID_ADDRESS, True)
    assert (later.value.reason, later.value.permanent) == (FailureReason.UNREACHABLE, False)
    assert REFUSED not in str(refused.value)


def test_a_wrong_password_is_a_permanent_auth_failure(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    wrong = settings(mailbox[1], certificate[0], password=SecretStr("nope"))
    with pytest.raises(ChannelError) as failure:
        SmtpEmailChannel(settings=wrong, clock=CLOCK).send(reminder())
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.AUTH_FAILED, True)
    assert mailbox[0].received == []


def test_an_untrusted_certificate_is_never_accepted(mailbox: tuple[Mailbox, int]) -> None:
    with pytest.raises(ChannelError) as failure:
        SmtpEmailChannel(settings=settings(mailbox[1], None), clock=CLOCK).send(reminder())
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.MISCONFIGURED, True)


def test_a_server_without_starttls_is_not_used_in_the_clear(
    certificate: tuple[Path, Path],
) -> None:
    box = Mailbox()
    controller = start_smtp(box, cert=certificate[0], key=certificate[1], tls=False)
    try:
        channel = SmtpEmailChannel(settings=settings(controller.port, certificate[0]), clock=CLOCK)
        with pytest.raises(ChannelError) as failure:
            channel.send(reminder())
    finally:
        controller.stop()
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.MISCONFIGURED, True)
    assert box.received == []


def test_nothing_listening_is_transient_provider_down() -> None:
    channel = SmtpEmailChannel(settings=settings(free_port(), None), clock=CLOCK)
    with pytest.raises(ChannelError) as failure:
        channel.send(reminder())
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.PROVIDER_DOWN, False)


def test_a_long_one_click_link_goes_out_verbatim_with_display_name_and_language(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    box, port = mailbox
    changed = settings(port, certificate[0]).model_copy(update={"from_name": "Clínica Riverside"})
    channel = SmtpEmailChannel(settings=changed, clock=CLOCK)
    link = "https://clinic.example/unsubscribe?t=" + "A1b2C3d4" * 30
    message = reminder()
    spanish = replace(
        message,
        language="es",
        email=replace(message.email, unsubscribe_url=link, subject="Su detección está pendiente"),
    )
    channel.send(spanish)
    (got,) = box.received
    mail = email.message_from_bytes(got.content, policy=email.policy.SMTP)
    raw_headers = got.content.split(b"\r\n\r\n", 1)[0].decode()
    assert mail["List-Unsubscribe"] == f"<{link}>, <mailto:unsubscribe@clinic.example>"
    assert f"List-Unsubscribe: <{link}>" in raw_headers  # verbatim, not RFC 2047-encoded
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert mail["Content-Language"] == "es"
    assert mail["From"].addresses[0].display_name == "Clínica Riverside"
    assert mail["Subject"] == "Su detección está pendiente"


def test_an_http_unsubscribe_link_is_a_named_misconfiguration(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    box, port = mailbox
    channel = SmtpEmailChannel(settings=settings(port, certificate[0]), clock=CLOCK)
    message = reminder()
    plain = replace(message, email=replace(message.email, unsubscribe_url="http://x.example/u"))
    with pytest.raises(ChannelError) as refused:
        channel.send(plain)
    assert (refused.value.reason, refused.value.permanent) == (FailureReason.MISCONFIGURED, True)
    assert box.received == []


def test_a_thread_sends_its_messages_over_one_connection_and_reconnects_when_dropped(
    certificate: tuple[Path, Path],
) -> None:
    box = Mailbox()
    controller = start_smtp(box, cert=certificate[0], key=certificate[1])
    channel = SmtpEmailChannel(settings=settings(controller.port, certificate[0]), clock=CLOCK)
    try:
        for n in range(3):
            channel.send(reminder(key=f"outbox-{n}"))
        # The relay restarts (or drops an idle session): the next send opens a fresh one.
        controller.stop()
        controller = start_smtp(box, cert=certificate[0], key=certificate[1], port=controller.port)
        channel.send(reminder(key="outbox-3"))
        channel.send(reminder(key="outbox-4"))
    finally:
        channel.close()
        controller.stop()
    ids = [parsed(r.content)["Message-ID"] for r in box.received]
    assert len(ids) == len(set(ids)) == 5  # every message once, none lost or sent twice
    assert all(r.tls and r.authenticated_as == SMTP_USER for r in box.received)
    peers = [r.peer for r in box.received]
    assert peers[0] == peers[1] == peers[2]
    assert peers[3] == peers[4] != peers[0]


def test_a_failed_send_drops_the_connection_and_the_next_uses_a_fresh_one(
    mailbox: tuple[Mailbox, int], certificate: tuple[Path, Path]
) -> None:
    box, port = mailbox
    channel = SmtpEmailChannel(settings=settings(port, certificate[0]), clock=CLOCK)
    channel.send(reminder(key="outbox-1"))
    with pytest.raises(ChannelError):
        channel.send(reminder(REFUSED, key="outbox-2"))
    channel.send(reminder(key="outbox-3"))
    channel.close()
    first, second = box.received
    assert first.peer != second.peer
