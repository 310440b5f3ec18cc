"""Twins in doubt looked up together; one look-up's error holds only its own message."""

from __future__ import annotations

import uuid
from contextlib import suppress
from datetime import datetime

import pytest
from tests.outreach.conftest import WorkerKilled
from tests.outreach.test_outreach_twin_cascade import (
    _calling,
    _killed_at,
    _outcomes,
    _queue,
    _worker,
)
from tests.outreach.test_outreach_worker_presence import _die, _wait_dead

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.clock import FrozenClock
from careloop.outreach.worker_presence import TAKEOVER_GRACE
from careloop.runtime import Runtime


def test_one_lookup_error_holds_only_its_message(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    tag = uuid.uuid4().hex[:8]
    _, keys = _queue(rt, tag=tag, n=6, twins=False)
    sender = f"+1555{int(tag, 16) % 10**7:07d}"
    gateway = FakeChannel(ChannelKind.SMS)
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    w1 = _worker(rt, f"w1-{tag}", gateway, sender)
    with _killed_at(gateway, w1, call=4, reached=True), suppress(WorkerKilled):
        w1.run_once()
    assert w1.presence is not None
    _die(w1.presence)
    _wait_dead(rt, w1.worker_id)
    assert _calling(rt, keys) == set(keys)
    real = gateway.find_sent
    asked: list[str] = []

    def find_sent(message: OutboundMessage, *, since: datetime) -> list[SendResult]:
        asked.append(message.idempotency_key)
        if message.idempotency_key == keys[1]:
            raise ChannelError(FailureReason.TIMEOUT, permanent=False, detail="outcome unknown")
        return real(message, since=since)

    gateway.find_sent = find_sent  # type: ignore[method-assign]
    w2 = _worker(rt, f"w2-{tag}", gateway, sender)
    try:
        w2.run_once()
        clock.advance(TAKEOVER_GRACE)
        w2.run(once=True)
    finally:
        w2.leave()
    calls = [sum(1 for a in gateway.attempts if a.idempotency_key == key) for key in keys]
    out = _outcomes(rt, keys)
    ids = [p for _, p in out.values() if p]
    print(sorted(asked), calls, out)
    assert sorted(asked) == sorted(keys)
    assert len(ids) == len(set(ids))
    assert out[keys[1]][0] != "sent"
    records = {s.message.idempotency_key: s.provider_id for s in gateway.sent}
    assert calls == [1] * 6
    assert {k: v for k, v in out.items() if k != keys[1]} == {
        k: ("sent", records[k]) for k in keys if k != keys[1]
    }
