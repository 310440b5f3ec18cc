"""A dead worker's group in doubt is asked about with its gateway look-ups in flight together:
asked one after another, a real gateway's ~0.1-0.3 s list held the adopting worker (and every
sender it sends for) for seconds per group."""

from __future__ import annotations

import threading
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
    adopt_after_grace,
)
from tests.outreach.test_outreach_worker_presence import _die, _wait_dead

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.clock import FrozenClock
from careloop.runtime import Runtime

GROUP = 6


class SlowList:
    """The gateway's message list as a real one answers it: each look-up takes a round trip.
    A look-up waits (up to 2 s) for a second one to be in flight, and remembers the most it
    saw at once."""

    def __init__(self, gateway: FakeChannel) -> None:
        self.real = gateway.find_sent
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0
        self.company = threading.Event()

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> list[SendResult]:
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            if self.in_flight > 1:
                self.company.set()
        self.company.wait(timeout=2.0)
        try:
            return self.real(message, since=since)
        finally:
            with self.lock:
                self.in_flight -= 1


def test_a_dead_workers_group_in_doubt_is_looked_up_together_and_each_sent_once(
    rt: Runtime,
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    tag = uuid.uuid4().hex[:8]
    _, keys = _queue(rt, tag=tag, n=GROUP, twins=False)
    sender = f"+1555{int(tag, 16) % 10**7:07d}"
    gateway = FakeChannel(ChannelKind.SMS)
    clock = rt.clock
    assert isinstance(clock, FrozenClock)

    w1 = _worker(rt, f"w1-{tag}", gateway, sender)
    # Killed at its fourth call, after the gateway took it: three sent, one in flight, two
    # never called, all six marked ``calling`` in its one group.
    with _killed_at(gateway, w1, call=4, reached=True), suppress(WorkerKilled):
        w1.run_once()
    assert w1.presence is not None
    _die(w1.presence)
    _wait_dead(rt, w1.worker_id)
    assert _calling(rt, keys) == set(keys)

    listing = SlowList(gateway)
    gateway.find_sent = listing.find_sent  # type: ignore[method-assign]
    w2 = _worker(rt, f"w2-{tag}", gateway, sender)
    try:
        adopt_after_grace(w2, clock)
    finally:
        w2.leave()

    calls = [sum(1 for a in gateway.attempts if a.idempotency_key == key) for key in keys]
    records = {s.message.idempotency_key: s.provider_id for s in gateway.sent}
    assert (listing.most > 1, calls, _outcomes(rt, keys)) == (
        True,
        [1] * GROUP,
        {key: ("sent", records[key]) for key in keys},
    )
