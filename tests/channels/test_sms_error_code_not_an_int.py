"""A Twilio-compatible gateway's ``code`` reads as the twilio package reads it, whatever its
JSON type: ``{"code": 21610.0}`` (STOP at the carrier) is UNSUBSCRIBED, so the opt-out is
recorded, and a string ``"21610"`` keeps its provider code (Twilio itself sends integers)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from careloop.channels.errors import ChannelError
from careloop.channels.messages import SendResult
from careloop.channels.sms_twilio import TWILIO_MESSAGE_STATUS
from careloop.channels.twilio_calls import create_with_twilio
from careloop.channels.twilio_messages import MessageCreator
from tests.channels.test_channels_twilio_wire import Answering, _both


@pytest.mark.parametrize(
    "content", [b'{"code": 21610.0, "message": "unsubscribed"}', b'{"code": "21610"}']
)
def test_a_gateways_non_integer_code_reads_as_the_package_reads_it(content: bytes) -> None:
    client, _ = _both(Answering(400, content))
    creator = MessageCreator.of_client(client)
    assert creator.written is not None

    def outcome(send: Callable[[], SendResult]) -> object:
        try:
            return send()
        except ChannelError as exc:
            return (exc.reason, exc.permanent, exc.provider_code)

    fields: dict[str, Any] = {"to": "+16175550199", "from_": "+15550000001", "body": "Hola",
                              "status_callback": None}  # fmt: skip
    package = outcome(
        lambda: create_with_twilio(
            lambda: client.messages.create(**fields),
            idempotency_key="k",
            statuses=TWILIO_MESSAGE_STATUS,
        )
    )
    lean = outcome(
        lambda: creator.create(**fields, idempotency_key="k", statuses=TWILIO_MESSAGE_STATUS)
    )
    assert lean == package
