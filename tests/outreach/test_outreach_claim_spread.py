"""A claim spread over as many free senders as keep the worker busy: with senders to spare, a
worker's throughput is what it can send, not its batch over half a lease."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from tests.outreach.conftest import Loop
from tests.outreach.test_outreach_dispatch import _calls_per_key, _queue, _sender

from careloop.channels.messages import OutboundMessage, SendResult
from careloop.clock import FrozenClock
from careloop.runtime import Runtime

SENDERS = 8
PER_SENDER = 12
RATE = 2.0
"""Short codes allowed 2 texts a second each: the worker (10 ms a send) is far faster."""


def test_a_worker_with_senders_to_spare_sends_from_all_of_them_at_once(
    rt: Runtime, make_loop: Callable[..., Loop], clock: FrozenClock
) -> None:
    """96 texts over 8 short codes of 2/s (the carriers' cap: 96 in ~6.3 s), batches of 24, a
    10 s lease. Each claim used to fill 3 senders for half a lease (24 texts in 4.2 s: ~17 s
    for all, measured 18.3 s); once the worker's own pace is known, a claim takes a few texts
    from every free sender, each sender still at most 2 a second."""
    loop = make_loop([], {})
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={
            "sender_rates": {f"sms:{_sender(i)}": RATE for i in range(SENDERS)},
            "worker": own.worker.model_copy(update={"batch": 24, "lease_seconds": 10.0}),
        }
    )
    loop.worker.sleep = lambda seconds: clock.advance(timedelta(seconds=seconds))
    sent_at: dict[str, list[datetime]] = {}
    real = loop.sms.send

    def answering_in_10_ms(message: OutboundMessage) -> SendResult:
        sent_at.setdefault(message.sender or "", []).append(clock.now())
        clock.advance(timedelta(milliseconds=10))
        return real(message)

    loop.sms.send = answering_in_10_ms  # type: ignore[method-assign]
    keys = _queue(rt, SENDERS * PER_SENDER, senders=SENDERS)
    started = clock.now()
    loop.work()

    calls = sorted(at for times in sent_at.values() for at in times)
    assert (calls[-1] - started).total_seconds() < 8.0  # was 18.3 s
    assert _calls_per_key(loop.sms, keys) == [1] * 96
    for times in sent_at.values():  # no short code over its cap in any second
        assert all(
            sum(1 for t in times if at <= t < at + timedelta(seconds=1)) <= RATE for at in times
        )
