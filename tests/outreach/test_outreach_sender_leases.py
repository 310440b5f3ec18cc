"""Each worker claims its own senders: two workers never claim messages of one paced sender
at once, and a worker never waits on a sender row another worker has locked."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select
from tests.outreach.conftest import queue_due_texts

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock, SystemClock
from careloop.compose.worker import build_worker
from careloop.models import OutboxMessage, SenderSlot
from careloop.outreach.claims import Claimed, claim_due
from careloop.outreach.config import BudgetSettings, OutreachSettings, WorkerSettings
from careloop.outreach.sender_leases import release_senders
from careloop.runtime import Runtime

SENDERS = [f"+1555000010{i}" for i in range(4)]
LEASE = timedelta(seconds=60)


def _queue(rt: Runtime, *, per_sender: int) -> None:
    queue_due_texts(
        rt,
        patient_id="psl",
        phone="+15550100077",
        key="sl",
        senders=SENDERS,
        count=per_sender * len(SENDERS),
    )


def _claim(rt: Runtime, worker_id: str, *, limit: int, rate: float = 10.0) -> list[Claimed]:
    with rt.transaction() as session:
        return claim_due(
            session,
            worker_id=worker_id,
            now=rt.clock.now(),
            limit=limit,
            lease=LEASE,
            capacity=lambda channel, sender: rate * LEASE.total_seconds() / 2,
        )


def _senders(claimed: list[Claimed]) -> set[str | None]:
    return {m.sender for m in claimed}


def test_two_workers_claim_from_disjoint_senders(rt: Runtime) -> None:
    _queue(rt, per_sender=10)
    first = _claim(rt, "w1", limit=10)
    second = _claim(rt, "w2", limit=10)
    # Each claim is filled from as few senders as cover it, and never from the other's.
    assert len(first) == len(second) == 10
    assert len(_senders(first)) == len(_senders(second)) == 1
    assert not _senders(first) & _senders(second)
    with rt.transaction() as session:
        leases = dict(session.execute(select(SenderSlot.sender_key, SenderSlot.leased_by)).all())
    assert leases == {
        f"sms:{next(iter(_senders(first)))}": "w1",
        f"sms:{next(iter(_senders(second)))}": "w2",
    }


def test_a_sender_released_or_whose_lease_ran_out_goes_to_the_next_worker(
    rt: Runtime, clock: FrozenClock
) -> None:
    _queue(rt, per_sender=10)
    # A claim that needs every sender's capacity leases them all: the next worker gets none.
    taken = _claim(rt, "w1", limit=12, rate=0.1)
    assert _senders(taken) == set(SENDERS)
    assert _claim(rt, "w2", limit=12, rate=0.1) == []
    with rt.transaction() as session:
        release_senders(session, worker_id="w1")
    assert _senders(_claim(rt, "w2", limit=12, rate=0.1)) == set(SENDERS)
    clock.advance(LEASE + timedelta(seconds=1))  # w2 crashed: its leases (and rows) ran out
    again = _claim(rt, "w3", limit=40)
    assert len(again) == 40


def test_a_worker_never_waits_on_a_sender_row_another_worker_holds(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    live = Runtime(
        settings=rt.settings, clock=SystemClock(), engine=rt.engine, sessions=rt.sessions
    )
    _queue(live, per_sender=3)
    sms = FakeChannel(ChannelKind.SMS)
    registry = ChannelRegistry(
        {ChannelKind.SMS: sms, ChannelKind.PORTAL: PortalChannel(inbox=InMemoryPortalInbox())}
    )
    worker = build_worker(live, worker_id="w2", channels=registry)
    worker.settings = OutreachSettings(
        sender_rates={f"sms:{s}": 50.0 for s in SENDERS},
        worker=WorkerSettings(batch=3, poll_seconds=0.05),
        budget=BudgetSettings(per_day=100, per_week=100, min_gap_hours=0),
    )
    busy = f"sms:{SENDERS[0]}"
    with live.transaction() as session:
        session.add(SenderSlot(sender_key=busy, next_slot_at=live.clock.now()))
    holder = live.sessions()
    try:
        # Another worker reserving slots of SENDERS[0]: its row is locked until it commits.
        holder.execute(
            select(SenderSlot).where(SenderSlot.sender_key == busy).with_for_update()
        ).all()
        done = threading.Event()
        runner = threading.Thread(target=lambda: (worker.run(once=True), done.set()), daemon=True)
        runner.start()
        runner.join(timeout=60)  # a hang guard, not a timing: before, it waited for ever
        assert done.is_set()
        sent_from = {s.message.sender for s in sms.sent}
        assert sent_from == set(SENDERS[1:])
    finally:
        holder.rollback()
        holder.close()
    with live.transaction() as session:
        waiting = session.scalars(
            select(OutboxMessage.sender).where(OutboxMessage.state != "sent")
        ).all()
    assert waiting == [SENDERS[0]] * 3
