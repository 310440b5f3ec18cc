"""The dispatch benchmark's recording gateway keeps every request, look-ups included.

Its figures are only honest if nothing is merged or dropped: a look-up of a send in doubt made
twice, or a flood of them, must show in its files, while the sends it counts stay sends.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from tests.scripts import load_benchmark

from careloop.channels.messages import ChannelKind, OutboundMessage
from careloop.channels.settings import SenderType, SmsSender
from careloop.channels.sms_twilio import TwilioSmsChannel
from careloop.channels.twilio_http import build_twilio_client


def test_list_lookups_are_recorded_beside_the_sends(tmp_path: Path) -> None:
    bench = load_benchmark("dispatch")
    gateway = bench.RecordingTwilioGateway(tmp_path, list_latency=0.001)
    client = build_twilio_client(account_sid=bench.ACCOUNT, auth_token="bench")
    client.http_client.session.mount("https://", gateway)
    sender = "+15559000001"
    channel = TwilioSmsChannel(
        client=client, senders=[SmsSender(number=sender, type=SenderType.SHORT_CODE)]
    )
    message = OutboundMessage(
        idempotency_key="k1", channel=ChannelKind.SMS, to="+16175550100", sender=sender,
        body="Your screening is due.",
    )  # fmt: skip
    channel.send(message)
    since = datetime.now(UTC) - timedelta(minutes=5)
    found = channel.find_sent(message, since=since)
    channel.find_sent(message, since=since)
    gateway.close()

    lines = [
        orjson.loads(line)
        for path in tmp_path.glob("*.jsonl")
        for line in path.read_bytes().splitlines()
    ]
    assert len(found) == 1
    assert len(bench.read_records(tmp_path)) == 1  # the sends the benchmark counts: one
    assert [r["method"] for r in lines].count("GET") == 2  # both look-ups, none merged
