from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from careloop.channels.senders import SenderType
from careloop.channels.settings import SmsSender, SmsSettings
from careloop.channels.sms_twilio import TwilioSmsChannel
from tests.channels.servers import CareloopWebhooks, FakeTwilio, ServerThread

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "test-auth-token-0123456789abcdef"
LONG_CODE = "+15017122661"
SHORT_CODE = "55555"


@pytest.fixture
def twilio() -> Iterator[tuple[FakeTwilio, ServerThread]]:
    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    server = ServerThread(fake.app())
    server.start()
    yield fake, server
    server.stop()


@pytest.fixture
def webhooks() -> Iterator[tuple[CareloopWebhooks, ServerThread]]:
    ours = CareloopWebhooks(auth_token=AUTH_TOKEN)
    server = ServerThread(ours.app())
    server.start()
    yield ours, server
    server.stop()


def sms_settings(base_url: str, *, timeout: float = 5.0) -> SmsSettings:
    return SmsSettings(
        provider="twilio",
        account_sid=ACCOUNT_SID,
        auth_token=SecretStr(AUTH_TOKEN),
        base_url=base_url,
        timeout_seconds=timeout,
        senders=[
            SmsSender(number=LONG_CODE),
            SmsSender(number=SHORT_CODE, type=SenderType.SHORT_CODE),
        ],
    )


@pytest.fixture
def sms_channel(twilio: tuple[FakeTwilio, ServerThread]) -> TwilioSmsChannel:
    return TwilioSmsChannel.from_settings(sms_settings(twilio[1].url))
