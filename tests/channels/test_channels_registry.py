"""The registry, the fake channel, the portal channel and the callback parsers."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import Keyword
from careloop.channels.messages import (
    ChannelKind,
    DeliveryStatus,
    OutboundMessage,
    PortalParts,
    RateLimit,
)
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel, portal_reply
from careloop.channels.registry import build_channels
from careloop.channels.senders import SenderType
from careloop.channels.settings import ChannelsSettings, SmsSender, SmsSettings
from careloop.channels.sms_twilio import TwilioSmsChannel
from careloop.channels.twilio_webhooks import parse_call_status, parse_message_status
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def message(channel: ChannelKind, *, to: str = "+15558675310", key: str = "k1") -> OutboundMessage:
    return OutboundMessage(
        channel=channel,
        to=to,
        body="Your screening is due.",
        idempotency_key=key,
        portal=PortalParts(title="Screening") if channel is ChannelKind.PORTAL else None,
    )


def test_default_settings_build_fakes_and_the_portal_inbox() -> None:
    inbox = InMemoryPortalInbox()
    registry = build_channels(ChannelsSettings(), clock=FrozenClock(NOW), portal_inbox=inbox)
    assert registry.kinds == set(ChannelKind)
    assert isinstance(registry.get(ChannelKind.SMS), FakeChannel)
    assert registry.send(message(ChannelKind.PORTAL, to="patient-7")).status is (
        DeliveryStatus.DELIVERED
    )
    assert len(inbox.items_for("patient-7")) == 1


def test_twilio_settings_build_the_twilio_adapter_with_sender_limits() -> None:
    settings = ChannelsSettings(
        sms=SmsSettings(
            provider="twilio",
            account_sid="AC1",
            auth_token=SecretStr("t"),
            senders=[SmsSender(number="+15017122661", messages_per_second=2.5)],
        )
    )
    registry = build_channels(settings, clock=FrozenClock(NOW), portal_inbox=InMemoryPortalInbox())
    assert isinstance(registry.get(ChannelKind.SMS), TwilioSmsChannel)
    assert registry.rate_limit(ChannelKind.SMS, None) == RateLimit(messages_per_second=2.5)


def test_settings_come_from_nested_environment_style_values() -> None:
    settings = ChannelsSettings.model_validate(
        {"sms": {"provider": "twilio", "senders": [{"number": "55555", "type": "short-code"}]}}
    )
    assert settings.sms.senders[0].effective_messages_per_second == 100.0
    assert "t0ken" not in repr(SmsSettings(auth_token=SecretStr("t0ken")))


def test_the_fake_records_every_attempt_and_fails_on_demand() -> None:
    fake = FakeChannel(ChannelKind.SMS)
    fake.fail_next(ChannelError(FailureReason.RATE_LIMITED, permanent=False))
    fake.fail_for("+15005550001", ChannelError(FailureReason.INVALID_ADDRESS, permanent=True))
    with pytest.raises(ChannelError) as throttled:
        fake.send(message(ChannelKind.SMS))
    with pytest.raises(ChannelError) as invalid:
        fake.send(message(ChannelKind.SMS, to="+15005550001", key="k2"))
    fake.send(message(ChannelKind.SMS))
    fake.send(message(ChannelKind.SMS))
    assert (throttled.value.permanent, invalid.value.permanent) == (False, True)
    assert len(fake.attempts) == 4
    assert fake.duplicates() == {"k1": 2}


def test_the_fake_never_deduplicates_and_can_say_what_it_sent() -> None:
    fake = FakeChannel(ChannelKind.SMS)
    first = fake.send(message(ChannelKind.SMS))
    again = fake.send(message(ChannelKind.SMS))
    found = fake.find_sent(message(ChannelKind.SMS), since=datetime(2026, 1, 1, tzinfo=UTC))
    assert first.provider_id != again.provider_id
    assert fake.duplicates() == {"k1": 2}
    assert [f.provider_id for f in found] == [first.provider_id, again.provider_id]


def test_the_fake_refuses_a_message_for_another_channel() -> None:
    with pytest.raises(InvalidInput):
        FakeChannel(ChannelKind.EMAIL).send(message(ChannelKind.SMS))


def test_portal_items_are_stored_once_per_key_and_read_receipts_are_reports() -> None:
    inbox = InMemoryPortalInbox()
    channel = PortalChannel(inbox=inbox)
    first = channel.send(message(ChannelKind.PORTAL, to="patient-7"))
    again = channel.send(message(ChannelKind.PORTAL, to="patient-7"))
    receipt = inbox.mark_read(first.provider_id, read_at=NOW)
    later = inbox.mark_read(first.provider_id, read_at=NOW.replace(hour=18))
    assert first.provider_id == again.provider_id
    assert len(inbox.items_for("patient-7")) == 1
    assert (receipt.status, receipt.reported_at) == (DeliveryStatus.READ, NOW)
    assert later.reported_at == NOW


def test_a_portal_reply_is_classified_like_an_sms() -> None:
    reply = portal_reply(
        item_id="PI1",
        sender="patient-7",
        recipient="care-team",
        body="c",
        reply_id="R1",
        received_at=NOW,
    )
    assert (reply.keyword, reply.in_reply_to) == (Keyword.CONFIRM, "PI1")


@pytest.mark.parametrize(
    ("code", "reason", "permanent"),
    [
        ("21610", FailureReason.UNSUBSCRIBED, True),
        ("30003", FailureReason.UNREACHABLE, False),
        ("30007", FailureReason.BLOCKED, True),
        ("30006", FailureReason.INVALID_ADDRESS, True),
        ("30099", FailureReason.UNKNOWN, False),
    ],
)
def test_failed_status_callbacks_map_error_codes(
    code: str, reason: FailureReason, permanent: bool
) -> None:
    params = {"MessageSid": "SM1", "MessageStatus": "failed", "ErrorCode": code}
    report = parse_message_status(params, reported_at=NOW)
    assert report.failure is not None
    assert (report.reason, report.failure.permanent) == (reason, permanent)


def test_a_status_callback_without_a_sid_is_invalid_input() -> None:
    with pytest.raises(InvalidInput) as error:
        parse_message_status({"MessageStatus": "sent"}, reported_at=NOW)
    assert error.value.field == "MessageSid"


def test_busy_and_no_answer_calls_are_transient() -> None:
    busy = parse_call_status({"CallSid": "CA1", "CallStatus": "busy"}, reported_at=NOW)
    assert busy.failure is not None
    assert (busy.status, busy.failure.permanent) == (DeliveryStatus.BUSY, False)


@pytest.mark.parametrize("number", ["(617) 555-0000", "617-555-0000", "+1 617 555 0000", "12"])
def test_a_sender_twilio_would_refuse_is_refused_at_start(number: str) -> None:
    with pytest.raises(ValidationError, match=r"E\.164|short code"):
        SmsSender(
            number=number, type=SenderType.SHORT_CODE if number == "12" else SenderType.LONG_CODE
        )


@pytest.mark.parametrize(
    ("command", "variable", "value"),
    [
        (["serve", "--port", "18999"], "CARELOOP_CHANNELS__SMS__SENDERS", '[{"number": "617"}]'),
        (["worker", "--once"], "CARELOOP_CHANNELS__SMS__SENDERS", '[{"number": "(617) 555-0000"}]'),
        (["worker", "--once"], "CARELOOP_CHANNELS__SMS__DEFAULT_SENDER", "617-555-0000"),
        (["serve", "--port", "18999"], "CARELOOP_CHANNELS__VOICE__CALLER_ID", "6175550000"),
    ],
)
def test_serve_and_worker_refuse_a_sender_that_is_not_e164_in_one_line(
    variable: str, value: str, command: list[str], tmp_path: Path
) -> None:
    env = {**os.environ, variable: value}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "careloop"), *command],
        env=env | {"CARELOOP_DATABASE_URL": f"sqlite:///{tmp_path / 'c.db'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        f"error: invalid setting {_path_of(variable)} ({variable}): sender number must be "
        "E.164, e.g. +16175550000"
    ]


def _path_of(variable: str) -> str:
    path = variable.removeprefix("CARELOOP_").lower().replace("__", ".")
    return path + ".0" if path.endswith("senders") else path


def test_a_voice_account_naming_only_its_gateway_keeps_the_sms_accounts_credentials() -> None:
    from careloop.channels.settings import TwilioAccount, VoiceSettings
    from careloop.channels.voice_twilio import TwilioVoiceChannel

    settings = ChannelsSettings(
        sms=SmsSettings(
            provider="twilio",
            account_sid="AC1",
            auth_token=SecretStr("t"),
            senders=[SmsSender(number="+15017122661")],
        ),
        voice=VoiceSettings(provider="twilio", account=TwilioAccount(base_url="http://gw.test")),
    )
    registry = build_channels(settings, clock=FrozenClock(NOW), portal_inbox=InMemoryPortalInbox())
    voice = registry.get(ChannelKind.VOICE)
    assert isinstance(voice, TwilioVoiceChannel)
    assert (voice._client.account_sid, voice._client.password) == ("AC1", "t")


def test_a_bad_field_of_a_sender_names_the_variable_that_holds_the_list() -> None:
    """``senders`` is one JSON variable: a wrong ``type`` in it was reported as
    ``CARELOOP_CHANNELS__SMS__SENDERS__TYPE``, a variable that does not exist."""
    from careloop.cli.support import settings_problem
    from careloop.settings import Settings

    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(
            {"channels": {"sms": {"senders": [{"number": "+16175550000", "type": "long_code"}]}}}
        )
    said = settings_problem(refused.value)
    assert said.startswith(
        "invalid setting channels.sms.senders.0.type (CARELOOP_CHANNELS__SMS__SENDERS): "
    )
