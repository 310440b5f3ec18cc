"""SMS through a local server that speaks Twilio's Messages API and calls back signed."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
import struct
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, DeliveryStatus, OutboundMessage, RateLimit
from careloop.channels.sms_twilio import TwilioSmsChannel
from careloop.channels.twilio_webhooks import SIGNATURE_HEADER, validate_twilio_request
from tests.channels.conftest import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    LONG_CODE,
    SHORT_CODE,
    sms_settings,
)
from tests.channels.servers import (
    INVALID_NUMBER,
    NOT_MOBILE,
    OPTED_OUT,
    UNDELIVERABLE,
    CareloopWebhooks,
    FakeTwilio,
    ServerThread,
    twilio_signature,
    wait_for,
)

PATIENT = "+15558675310"


def sms(
    to: str = PATIENT,
    *,
    key: str = "outbox-1",
    callback: str | None = None,
    sender: str | None = None,
) -> OutboundMessage:
    return OutboundMessage(
        channel=ChannelKind.SMS,
        to=to,
        body="Riverside Clinic: your screening is due. Reply C to confirm, STOP to opt out.",
        idempotency_key=key,
        sender=sender,
        status_callback_url=callback,
    )


def test_send_posts_twilio_form_with_basic_auth_and_returns_the_message_sid(
    twilio: tuple[FakeTwilio, ServerThread], sms_channel: TwilioSmsChannel
) -> None:
    fake, _ = twilio
    result = sms_channel.send(sms())
    assert result.provider_id.startswith("SM")
    assert result.status is DeliveryStatus.QUEUED
    stored = fake.messages[result.provider_id]
    assert (stored["to"], stored["from"]) == (PATIENT, LONG_CODE)
    seen = fake.requests_seen[0]
    assert seen["path"] == f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    assert seen["content_type"].startswith("application/x-www-form-urlencoded")
    assert seen["form"]["Body"].startswith("Riverside Clinic")
    assert seen["idempotency_token"] == "outbox-1"


def test_twilio_ignores_the_key_so_a_lost_answer_is_reconciled_by_listing_messages(
    twilio: tuple[FakeTwilio, ServerThread],
) -> None:
    fake, server = twilio
    channel = TwilioSmsChannel.from_settings(sms_settings(server.url, timeout=0.3))
    fake.answer_delay_seconds = 1.0
    with pytest.raises(ChannelError) as lost:
        channel.send(sms(key="outbox-7"))
    assert (lost.value.reason, lost.value.permanent) == (FailureReason.TIMEOUT, False)
    fake.answer_delay_seconds = 0.0
    [first] = list(fake.messages)
    found = channel.find_sent(sms(key="outbox-7"), since=datetime.now(UTC) - timedelta(minutes=5))
    resent = channel.send(sms(key="outbox-7"))
    assert [f.provider_id for f in found] == [first]
    assert list(fake.messages) == [first, resent.provider_id]  # the header deduplicates nothing
    assert fake.requests_seen[1]["query"]["To"] == PATIENT


def test_a_text_lost_in_doubt_through_a_messaging_service_is_found_by_to_and_service(
    twilio: tuple[FakeTwilio, ServerThread],
) -> None:
    """Through a Messaging Service Twilio picks the From, so the reconciliation cannot ask
    for one: it lists by To and matches the service and body, and a lost answer is not sent
    twice."""
    fake, server = twilio
    service = "MG" + "fedcba9876543210" * 2
    settings = sms_settings(server.url, timeout=0.3).model_copy(
        update={"messaging_service_sid": service, "senders": [], "default_sender": None}
    )
    channel = TwilioSmsChannel.from_settings(settings)
    fake.answer_delay_seconds = 1.0
    with pytest.raises(ChannelError):
        channel.send(sms(key="outbox-8"))
    fake.answer_delay_seconds = 0.0
    [first] = list(fake.messages)

    found = channel.find_sent(sms(key="outbox-8"), since=datetime.now(UTC) - timedelta(minutes=5))

    assert [f.provider_id for f in found] == [first]
    assert "From" not in fake.requests_seen[0]["form"]
    assert fake.requests_seen[0]["form"]["MessagingServiceSid"] == service
    assert "From" not in fake.requests_seen[1]["query"]


@pytest.mark.parametrize(
    ("to", "reason", "code"),
    [
        (INVALID_NUMBER, FailureReason.INVALID_ADDRESS, "21211"),
        (NOT_MOBILE, FailureReason.INVALID_ADDRESS, "21614"),
        (OPTED_OUT, FailureReason.UNSUBSCRIBED, "21610"),
    ],
)
def test_twilio_rejections_are_permanent_with_a_named_reason(
    sms_channel: TwilioSmsChannel, to: str, reason: FailureReason, code: str
) -> None:
    with pytest.raises(ChannelError) as failure:
        sms_channel.send(sms(to))
    assert (failure.value.reason, failure.value.permanent) == (reason, True)
    assert failure.value.provider_code == code
    assert to not in str(failure.value)


@pytest.mark.parametrize(
    ("status", "code", "reason"),
    [
        (429, 20429, FailureReason.RATE_LIMITED),
        (500, 20500, FailureReason.PROVIDER_DOWN),
        (503, 20503, FailureReason.PROVIDER_DOWN),
    ],
)
def test_throttling_and_server_errors_are_transient(
    twilio: tuple[FakeTwilio, ServerThread],
    sms_channel: TwilioSmsChannel,
    status: int,
    code: int,
    reason: FailureReason,
) -> None:
    twilio[0].fail_next(status, code)
    with pytest.raises(ChannelError) as failure:
        sms_channel.send(sms())
    assert (failure.value.reason, failure.value.permanent) == (reason, False)
    assert sms_channel.send(sms()).provider_id.startswith("SM")


def test_wrong_credentials_are_a_permanent_auth_failure(
    twilio: tuple[FakeTwilio, ServerThread],
) -> None:
    settings = sms_settings(twilio[1].url).model_copy(update={"auth_token": SecretStr("wrong")})
    channel = TwilioSmsChannel.from_settings(settings)
    with pytest.raises(ChannelError) as failure:
        channel.send(sms())
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.AUTH_FAILED, True)


def test_an_unreachable_gateway_is_transient_provider_down() -> None:
    channel = TwilioSmsChannel.from_settings(sms_settings("http://127.0.0.1:9", timeout=2))
    with pytest.raises(ChannelError) as failure:
        channel.send(sms())
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.PROVIDER_DOWN, False)


def _send_to_a_gateway_that(finish: Callable[[socket.socket], None]) -> tuple[bytes, ChannelError]:
    """Send one text to a socket that reads the whole request, then ``finish``es the exchange."""
    listener = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def read_then_finish() -> None:
        connection, _ = listener.accept()
        with connection:
            data = b""
            while b"\r\n\r\n" not in data:
                data += connection.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
            while len(body) < length:
                body += connection.recv(65536)
            received.append(head + body)
            finish(connection)

    thread = threading.Thread(target=read_then_finish)
    thread.start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    channel = TwilioSmsChannel.from_settings(sms_settings(url, timeout=5))
    try:
        with pytest.raises(ChannelError) as failure:
            channel.send(sms())
    finally:
        thread.join(5)
        listener.close()
    return received[0], failure.value


def _reset(connection: socket.socket) -> None:
    # Reset rather than answer, as a gateway's side does when it drops a connection.
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _answer_half(connection: socket.socket) -> None:
    # Twilio's 201 whose body stops short: the text was probably accepted.
    connection.sendall(
        b"HTTP/1.1 201 CREATED\r\nContent-Type: application/json\r\n"
        b'Content-Length: 400\r\n\r\n{"sid": "SM0123'
    )


@pytest.mark.parametrize("finish", [_reset, _answer_half], ids=["dropped", "answer-cut-short"])
def test_a_connection_lost_after_the_request_was_sent_is_an_unknown_outcome(
    finish: Callable[[socket.socket], None],
) -> None:
    """The gateway read the whole request (it may have sent the text) and the connection
    dropped before or while it answered: not ``provider-down`` (retried blindly: a second
    text) nor an exception that kills the worker, but ``timeout``, whose retry first asks the
    gateway what it sent."""
    request, failure = _send_to_a_gateway_that(finish)
    assert request.startswith(b"POST ")
    assert (failure.reason, failure.permanent) == (FailureReason.TIMEOUT, False)


def test_rate_limits_follow_the_sender_type(sms_channel: TwilioSmsChannel) -> None:
    assert sms_channel.rate_limit(LONG_CODE) == RateLimit(messages_per_second=1.0)
    assert sms_channel.rate_limit(SHORT_CODE) == RateLimit(messages_per_second=100.0)
    assert sms_channel.rate_limit(None) == RateLimit(messages_per_second=1.0)


def test_an_unconfigured_sender_is_refused_before_calling_twilio(
    twilio: tuple[FakeTwilio, ServerThread], sms_channel: TwilioSmsChannel
) -> None:
    with pytest.raises(ChannelError) as failure:
        sms_channel.send(sms(sender="+15550000000"))
    assert (failure.value.reason, failure.value.permanent) == (FailureReason.MISCONFIGURED, True)
    assert twilio[0].requests_seen == []


def test_signed_status_callbacks_arrive_verified_and_parsed(
    twilio: tuple[FakeTwilio, ServerThread],
    webhooks: tuple[CareloopWebhooks, ServerThread],
    sms_channel: TwilioSmsChannel,
) -> None:
    ours, hooks = webhooks
    result = sms_channel.send(sms(callback=f"{hooks.url}/twilio/status/attempt-1"))
    wait_for(lambda: len(ours.reports) == 2)
    assert [r.status for r in ours.reports] == [DeliveryStatus.SENT, DeliveryStatus.DELIVERED]
    assert {r.provider_id for r in ours.reports} == {result.provider_id}
    assert ours.rejected == 0


def test_undelivered_callback_carries_a_transient_failure(
    webhooks: tuple[CareloopWebhooks, ServerThread], sms_channel: TwilioSmsChannel
) -> None:
    ours, hooks = webhooks
    sms_channel.send(sms(UNDELIVERABLE, callback=f"{hooks.url}/twilio/status/attempt-2"))
    wait_for(lambda: len(ours.reports) == 2)
    last = ours.reports[-1]
    assert last.status is DeliveryStatus.UNDELIVERED
    assert last.failure is not None
    assert (last.reason, last.failure.permanent, last.failure.provider_code) == (
        FailureReason.UNREACHABLE,
        False,
        "30003",
    )


def test_inbound_sms_is_verified_and_classified(
    twilio: tuple[FakeTwilio, ServerThread], webhooks: tuple[CareloopWebhooks, ServerThread]
) -> None:
    fake, _ = twilio
    ours, hooks = webhooks
    answer = asyncio.run(
        fake.send_inbound_sms(
            f"{hooks.url}/twilio/inbound", sender=PATIENT, to=LONG_CODE, body=" Stop "
        )
    )
    assert answer.status_code == 200
    (reply,) = ours.inbound
    assert (reply.keyword, reply.sender, reply.recipient) == (Keyword.OPT_OUT, PATIENT, LONG_CODE)
    assert reply.provider_id.startswith("SM")


def test_a_forged_signature_is_rejected_at_the_webhook(
    webhooks: tuple[CareloopWebhooks, ServerThread],
) -> None:
    import httpx

    ours, hooks = webhooks
    url = f"{hooks.url}/twilio/inbound"
    params = {"MessageSid": "SM1", "From": PATIENT, "To": LONG_CODE, "Body": "STOP"}
    forged = twilio_signature("not-our-token", url, params)
    answer = httpx.post(url, data=params, headers={SIGNATURE_HEADER: forged})
    assert answer.status_code == 403
    assert ours.inbound == []
    assert ours.rejected == 1


def test_our_signature_matches_twilio_validator_and_tampering_breaks_it() -> None:
    url = "https://careloop.example.org/twilio/inbound?clinic=7"
    params = {"MessageSid": "SM1", "From": PATIENT, "To": LONG_CODE, "Body": "C"}
    signature = twilio_signature(AUTH_TOKEN, url, params)
    assert validate_twilio_request(
        url=url, params=params, signature=signature, auth_token=AUTH_TOKEN
    )
    tampered = {**params, "Body": "STOP"}
    assert not validate_twilio_request(
        url=url, params=tampered, signature=signature, auth_token=AUTH_TOKEN
    )
    assert not validate_twilio_request(
        url=url, params=params, signature=None, auth_token=AUTH_TOKEN
    )
    assert not validate_twilio_request(
        url=url.replace("7", "8"), params=params, signature=signature, auth_token=AUTH_TOKEN
    )
    assert base64.b64decode(signature)
