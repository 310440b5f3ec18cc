"""A killed worker's rows never called are sent by a survivor at once; its rows ``calling``
are reconciled only after the grace, and never take a twin's gateway record.

A twin is a text with the same recipient, sender and words: the gateway's list cannot tell
twins apart, so only a twin's recorded provider id keeps it from being matched to the one in
doubt. The survivor's twin is sent and recorded before the grace ends, and whoever settles
the one in doubt holds the sender's lease, so it reads that record committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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

PROPERTY = settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def pg(rt: Runtime) -> Runtime:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    return rt


def _queue(rt: Runtime, *, tag: str, n: int, twins: bool) -> tuple[str, list[str]]:
    """``n`` due texts from one paced sender of their own to one number (a family's phone);
    with ``twins`` all in the same words. Returns the sender and the keys, oldest first."""
    sender = f"+1555{int(tag, 16) % 10**7:07d}"
    phone = f"+1617{int(tag, 16) % 10**7:07d}"
    for i in range(n):  # a patient each: the contact budget is per patient
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
    own = worker.settings
    worker.settings = own.model_copy(update={"sender_rates": {f"sms:{sender}": 1000.0}})
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    worker.sleep = lambda s: clock.advance(timedelta(seconds=s))
    return worker


@contextmanager
def _killed_at(gateway: FakeChannel, worker: Worker, *, call: int, reached: bool) -> Iterator[None]:
    """The worker process dies during its ``call``-th call to the gateway: after the gateway
    took it (``reached``) or before. Like a SIGKILL it hands nothing back: its sender lease
    and rows stay its own, its presence lock goes with its connection."""
    real = gateway.send
    left = [call]

    def send(message: OutboundMessage) -> SendResult:
        left[0] -= 1
        if left[0] > 0:
            return real(message)
        if reached:
            real(message)
        worker.senders_released = True  # no farewell: the lease stays the dead worker's
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
    """Keys whose attempt a worker left ``calling`` (open)."""
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


@PROPERTY
@given(
    n=st.integers(min_value=2, max_value=8),
    twins=st.booleans(),
    per_commit=st.integers(min_value=1, max_value=4),
    reached=st.booleans(),
    settled_by_another=st.booleans(),
    data=st.data(),
)
def test_a_killed_workers_rows_are_sent_once_and_matched_to_their_own_record(
    pg: Runtime,
    n: int,
    twins: bool,
    per_commit: int,
    reached: bool,
    settled_by_another: bool,
    data: st.DataObject,
) -> None:
    tag = uuid.uuid4().hex[:8]
    sender, keys = _queue(pg, tag=tag, n=n, twins=twins)
    gateway = FakeChannel(ChannelKind.SMS)
    w1 = _worker(pg, f"w1-{tag}", gateway, sender)
    grouped = w1.settings.worker.model_copy(update={"results_per_commit": per_commit})
    w1.settings = w1.settings.model_copy(update={"worker": grouped})
    call = data.draw(st.integers(min_value=1, max_value=n), label="killed at call")
    with _killed_at(gateway, w1, call=call, reached=reached), suppress(WorkerKilled):
        w1.run_once()
    assert w1.presence is not None
    _die(w1.presence)
    _wait_dead(pg, w1.worker_id)
    in_flight = _calling(pg, keys)
    assert in_flight  # the call the kill cut short, at least

    w2 = _worker(pg, f"w2-{tag}", gateway, sender)
    w3 = _worker(pg, f"w3-{tag}", gateway, sender)
    try:
        w2.run_once()  # seen dead: its sender and its rows never called, at once
        states = _outcomes(pg, keys)
        assert {k for k, (state, _) in states.items() if state != "sent"} == in_flight
        assert w3.run_once().claimed == 0  # the rows calling wait for the grace
        clock = pg.clock
        assert isinstance(clock, FrozenClock)
        clock.advance(TAKEOVER_GRACE)  # its calls in flight have ended: reconciled
        (w3 if settled_by_another else w2).run(once=True)
    finally:
        w2.leave()
        w3.leave()

    calls = [sum(1 for a in gateway.attempts if a.idempotency_key == key) for key in keys]
    assert calls == [1] * n  # none lost, none sent twice
    records = {s.message.idempotency_key: s.provider_id for s in gateway.sent}
    # Each message recorded with the gateway record of its own call, none with a twin's.
    assert _outcomes(pg, keys) == {key: ("sent", records[key]) for key in keys}
