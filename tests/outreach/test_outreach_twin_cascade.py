"""revi: a dead worker's twin adopted at once by a survivor that then dies too.

w1 is killed while calling T1 (the gateway never took it); T2, a twin of T1 (same phone,
sender and words: a family's phone, two patients), is one of w1's rows never called. w2
adopts T2 at once, calls it (the gateway takes it) and is killed before recording it.
w3 then settles both: it must not record T1 with T2's gateway record, nor call T2 twice.
Before the change T2 waited for the grace with T1, and T1 was settled before T2 was sent.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.outreach.conftest import WorkerKilled, make_awake_patient
from tests.outreach.test_outreach_worker_presence import _die, _wait_dead

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.models import OutboxMessage, SendAttempt
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.worker import Worker
from careloop.outreach.worker_presence import TAKEOVER_GRACE
from careloop.runtime import Runtime


# Copied from tests/outreach/test_outreach_early_adoption.py (not at the base commit).
def _queue(rt: Runtime, *, tag: str, n: int, twins: bool) -> tuple[str, list[str]]:
    sender = f"+1555{int(tag, 16) % 10**7:07d}"
    phone = f"+1617{int(tag, 16) % 10**7:07d}"
    for i in range(n):
        make_awake_patient(rt, patient_id=f"ea-{tag}-{i}", phone=phone)
    keys = [f"ea:{tag}:{i}" for i in range(n)]
    now = rt.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=key,
                    patient_id=f"ea-{tag}-{i}",
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phone,
                    sender=sender,
                    body="Your screening is due." if twins else f"Reminder {i}.",
                    due_at=now - timedelta(seconds=1),
                )
                for i, key in enumerate(keys)
            ],
            now=now,
        )
    return sender, keys


def _worker(rt: Runtime, worker_id: str, gateway: FakeChannel, sender: str) -> Worker:
    worker = build_worker(
        rt, worker_id=worker_id, channels=ChannelRegistry({ChannelKind.SMS: gateway})
    )
    worker.settings = worker.settings.model_copy(update={"sender_rates": {f"sms:{sender}": 1000.0}})
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    worker.sleep = lambda s: clock.advance(timedelta(seconds=s))
    return worker


def adopt_after_grace(worker: Worker, clock: FrozenClock) -> None:
    """A first claim sees the dead; the claims after the takeover's grace adopt them."""
    worker.run_once()
    clock.advance(TAKEOVER_GRACE)
    worker.run(once=True)


@contextmanager
def _killed_at(gateway: FakeChannel, worker: Worker, *, call: int, reached: bool) -> Iterator[None]:
    real = gateway.send
    left = [call]

    def send(message: OutboundMessage) -> SendResult:
        left[0] -= 1
        if left[0] > 0:
            return real(message)
        if reached:
            real(message)
        worker.senders_released = True  # SIGKILL: the sender lease stays the dead worker's
        raise WorkerKilled

    gateway.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        gateway.send = real  # type: ignore[method-assign]


def _outcomes(rt: Runtime, keys: list[str]) -> dict[str, tuple[str, str | None]]:
    with rt.transaction() as session:
        rows = session.execute(
            select(
                OutboxMessage.idempotency_key, OutboxMessage.state, OutboxMessage.provider_id
            ).where(OutboxMessage.idempotency_key.in_(keys))
        ).all()
    return {key: (state, provider_id) for key, state, provider_id in rows}


def _calling(rt: Runtime, keys: list[str]) -> set[str]:
    with rt.transaction() as session:
        return set(
            session.scalars(
                select(OutboxMessage.idempotency_key)
                .join(SendAttempt, SendAttempt.message_id == OutboxMessage.id)
                .where(
                    OutboxMessage.idempotency_key.in_(keys),
                    SendAttempt.outcome == "calling",
                    SendAttempt.finished_at.is_(None),
                )
            )
        )


@pytest.fixture
def pg(rt: Runtime) -> Runtime:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    return rt


def test_twins_of_two_dead_workers_each_called_once_with_their_own_record(pg: Runtime) -> None:
    tag = uuid.uuid4().hex[:8]
    _, keys = _queue(pg, tag=tag, n=2, twins=True)
    sender = f"+1555{int(tag, 16) % 10**7:07d}"
    gateway = FakeChannel(ChannelKind.SMS)
    clock = pg.clock
    assert isinstance(clock, FrozenClock)

    w1 = _worker(pg, f"w1-{tag}", gateway, sender)
    one = w1.settings.worker.model_copy(update={"results_per_commit": 1})
    w1.settings = w1.settings.model_copy(update={"worker": one})
    with _killed_at(gateway, w1, call=1, reached=False), suppress(WorkerKilled):
        w1.run_once()
    assert w1.presence is not None
    _die(w1.presence)
    _wait_dead(pg, w1.worker_id)
    assert _calling(pg, keys) == {keys[0]}  # T1 in flight, T2 never called

    w2 = _worker(pg, f"w2-{tag}", gateway, sender)
    with _killed_at(gateway, w2, call=1, reached=True), suppress(WorkerKilled):
        w2.run_once()  # whatever it may take now; killed at its first call, after the gateway
    if w2.presence is not None and w2.presence.connection is not None:
        _die(w2.presence)
        _wait_dead(pg, w2.worker_id)

    w3 = _worker(pg, f"w3-{tag}", gateway, sender)
    try:
        adopt_after_grace(w3, clock)
    finally:
        w2.leave()
        w3.leave()

    calls = [sum(1 for a in gateway.attempts if a.idempotency_key == key) for key in keys]
    records = {s.message.idempotency_key: s.provider_id for s in gateway.sent}
    assert (calls, _outcomes(pg, keys)) == (
        [1, 1],
        {key: ("sent", records.get(key)) for key in keys},
    )
