"""Portal sign-in codes go out through the channel adapters (or the terminal with fakes)."""

from __future__ import annotations

import pytest

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind
from careloop.channels.registry import ChannelRegistry
from careloop.web.code_delivery import ChannelCodeSender


def test_with_a_real_adapter_the_code_is_texted() -> None:
    sms = FakeChannel(ChannelKind.SMS)
    sender = ChannelCodeSender(
        registry=ChannelRegistry({ChannelKind.SMS: sms}),
        public_base_url="https://care.example.org",
        echo_to_terminal=False,
    )
    sender.send_code(channel="sms", to="+15550100001", code="123456", expires_minutes=10)
    [sent] = sms.sent
    assert sent.message.to == "+15550100001"
    assert "123456" in sent.message.body


def test_with_fake_gateways_the_code_is_shown_to_the_operator_masked(
    capsys: pytest.CaptureFixture[str],
) -> None:
    sender = ChannelCodeSender(
        registry=ChannelRegistry({}),
        public_base_url="https://care.example.org",
        echo_to_terminal=True,
    )
    sender.send_code(channel="sms", to="+15550100001", code="654321", expires_minutes=10)
    shown = capsys.readouterr().err
    assert "654321" in shown
    assert "+1555010" not in shown
