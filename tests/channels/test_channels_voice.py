"""Voice calls through a local Calls API that fetches our TwiML and presses keys."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr

from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, DeliveryStatus, OutboundMessage, VoiceParts
from careloop.channels.portal import InMemoryPortalInbox
from careloop.channels.registry import build_channels
from careloop.channels.settings import ChannelsSettings, SmsSettings, TwilioAccount, VoiceSettings
from careloop.channels.twilio_http import build_twilio_client
from careloop.channels.voice_twilio import (
    TwilioVoiceChannel,
    parse_gather_callback,
    render_call_twiml,
)
from careloop.clock import SystemClock
from careloop.errors import InvalidInput
from tests.channels.conftest import ACCOUNT_SID, AUTH_TOKEN, LONG_CODE
from tests.channels.servers import CareloopWebhooks, FakeTwilio, ServerThread, wait_for

PATIENT = "+15558675310"
REMINDER = "Your mammogram at Riverside Breast Center is on Tuesday at 9 AM."
VOICEMAIL = "This is Riverside Clinic with a message for you. Please call us at 555 0100."


def call(hooks_url: str | None, *, inline: bool = False, key: str = "call-1") -> OutboundMessage:
    base = hooks_url or "https://careloop.example.org"
    return OutboundMessage(
        channel=ChannelKind.VOICE,
        to=PATIENT,
        body=REMINDER,
        idempotency_key=key,
        status_callback_url=f"{base}/twilio/call-status/{key}",
        voice=VoiceParts(
            voicemail_text=VOICEMAIL,
            gather_action_url=f"{base}/twilio/gather/{key}",
            answer_url=None if inline else f"{base}/twilio/voice/{key}",
        ),
    )


def voice_channel(url: str) -> TwilioVoiceChannel:
    client = build_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, base_url=url)
    return TwilioVoiceChannel(client=client, caller_id=LONG_CODE)


def spoken(twiml: str) -> list[str]:
    return [say.text or "" for say in ET.fromstring(twiml).iter("Say")]


@pytest.fixture
def wired(
    twilio: tuple[FakeTwilio, ServerThread], webhooks: tuple[CareloopWebhooks, ServerThread]
) -> tuple[FakeTwilio, CareloopWebhooks, str, TwilioVoiceChannel]:
    fake, api = twilio
    ours, hooks = webhooks
    return fake, ours, hooks.url, voice_channel(api.url)


def test_a_person_hears_the_reminder_and_pressing_1_confirms(
    wired: tuple[FakeTwilio, CareloopWebhooks, str, TwilioVoiceChannel],
) -> None:
    fake, ours, hooks_url, channel = wired
    message = call(hooks_url)
    ours.calls["call-1"] = message
    fake.key_presses[PATIENT] = "1"
    result = channel.send(message)
    assert result.provider_id.startswith("CA")
    wait_for(lambda: len(ours.reports) == 1)
    form: dict[str, Any] = fake.calls[result.provider_id]["form"]
    assert form["MachineDetection"] == "DetectMessageEnd"
    assert REMINDER in spoken(fake.twiml_heard[result.provider_id])
    (reply,) = ours.inbound
    assert (reply.keyword, reply.sender, reply.in_reply_to) == (
        Keyword.CONFIRM,
        PATIENT,
        result.provider_id,
    )
    assert ours.reports[0].status is DeliveryStatus.COMPLETED


def test_pressing_2_asks_to_talk_to_someone(
    wired: tuple[FakeTwilio, CareloopWebhooks, str, TwilioVoiceChannel],
) -> None:
    fake, ours, hooks_url, channel = wired
    ours.calls["call-1"] = call(hooks_url)
    fake.key_presses[PATIENT] = "2"
    channel.send(ours.calls["call-1"])
    wait_for(lambda: len(ours.reports) == 1)
    assert [r.keyword for r in ours.inbound] == [Keyword.TALK_TO_SOMEONE]


def test_an_answering_machine_records_only_the_voicemail_safe_text(
    wired: tuple[FakeTwilio, CareloopWebhooks, str, TwilioVoiceChannel],
) -> None:
    fake, ours, hooks_url, channel = wired
    ours.calls["call-1"] = call(hooks_url)
    fake.answered_by[PATIENT] = "machine_end_beep"
    result = channel.send(ours.calls["call-1"])
    wait_for(lambda: len(ours.reports) == 1)
    heard = spoken(fake.twiml_heard[result.provider_id])
    assert heard == [VOICEMAIL]
    assert ours.inbound == []


def test_inline_twiml_speaks_only_the_voicemail_safe_text_with_the_menu(
    wired: tuple[FakeTwilio, CareloopWebhooks, str, TwilioVoiceChannel],
) -> None:
    fake, ours, hooks_url, channel = wired
    fake.key_presses[PATIENT] = "1"
    result = channel.send(call(hooks_url, inline=True))
    wait_for(lambda: len(ours.reports) == 1)
    form = fake.calls[result.provider_id]["form"]
    assert "Url" not in form
    assert REMINDER not in form["Twiml"]
    assert VOICEMAIL in spoken(form["Twiml"])
    assert [r.keyword for r in ours.inbound] == [Keyword.CONFIRM]


def test_twiml_uses_the_say_locale_and_one_key_gather() -> None:
    message = call(None)
    spanish = OutboundMessage(**{**_fields(message), "language": "es"})
    root = ET.fromstring(render_call_twiml(spanish, answered_by="human"))
    gather = root.find("Gather")
    assert gather is not None
    assert gather.attrib["numDigits"] == "1"
    assert gather.attrib["action"].endswith("/twilio/gather/call-1")
    assert {say.attrib["language"] for say in root.iter("Say")} == {"es-US"}


def test_an_sms_is_not_a_call() -> None:
    client = build_twilio_client(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    channel = TwilioVoiceChannel(client=client, caller_id=LONG_CODE)
    message = OutboundMessage(channel=ChannelKind.SMS, to=PATIENT, body="x", idempotency_key="k")
    with pytest.raises(InvalidInput) as error:
        channel.send(message)
    assert error.value.field == "voice"


def test_other_keys_arrive_as_numbers_and_inbound_calls_use_from() -> None:
    params = {
        "CallSid": "CA1",
        "Digits": "7",
        "From": PATIENT,
        "To": LONG_CODE,
        "Direction": "inbound",
    }
    reply = parse_gather_callback(params, received_at=datetime(2026, 3, 2, tzinfo=UTC))
    assert (reply.keyword, reply.number, reply.sender) == (Keyword.FREE_TEXT, Decimal(7), PATIENT)


def _fields(message: OutboundMessage) -> dict[str, Any]:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}


def test_with_speech_off_an_inline_call_menu_takes_keys_only(
    twilio: tuple[FakeTwilio, ServerThread], webhooks: tuple[CareloopWebhooks, ServerThread]
) -> None:
    """``channels.voice.speech=false`` reaches the adapter built from settings: the TwiML
    sent inline (``Twiml=``, as Twilio received it) never asks for speech, which Twilio
    bills per prompt; a key still answers."""
    fake, api = twilio
    ours, hooks = webhooks
    settings = ChannelsSettings(
        sms=SmsSettings(account_sid=ACCOUNT_SID, auth_token=SecretStr(AUTH_TOKEN)),
        voice=VoiceSettings(
            provider="twilio",
            caller_id=LONG_CODE,
            speech=False,
            account=TwilioAccount(base_url=api.url),
        ),
    )
    channel = build_channels(settings, clock=SystemClock(), portal_inbox=InMemoryPortalInbox())
    fake.key_presses[PATIENT] = "1"

    result = channel.send(call(hooks.url, inline=True))

    wait_for(lambda: len(ours.reports) == 1)
    gathers = list(ET.fromstring(fake.calls[result.provider_id]["form"]["Twiml"]).iter("Gather"))
    assert [g.attrib["input"] for g in gathers] == ["dtmf", "dtmf"]
    assert all("speechTimeout" not in g.attrib for g in gathers)
    assert [r.keyword for r in ours.inbound] == [Keyword.CONFIRM]
