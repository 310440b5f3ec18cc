"""A dead worker's senders and rows are adopted at once; a live one's never before its leases.

Death is the server releasing the worker's session advisory lock when its connection drops
(here: the connection closed under it; ``test_outreach_dispatch_kill`` SIGKILLs and SIGSTOPs
real worker processes)."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from tests.outreach.conftest import queue_due_texts
from tests.outreach.test_outreach_dispatch import Blind

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.errors import InvalidInput
from careloop.models import OutboxMessage, SendAttempt, SenderSlot, WorkerPresence
from careloop.outreach.claims import Claimed, claim_due, mark_calling, renew_lease
from careloop.outreach.worker_presence import (
    TAKEOVER_GRACE,
    WATCH_EVERY,
    Adopt,
    Presence,
    PresenceLost,
    Takeover,
    dead_workers,
    hold_presence,
)
from careloop.runtime import Runtime

SENDERS = [f"+1555000020{i}" for i in range(2)]
LEASE = timedelta(seconds=60)


def _queue(rt: Runtime, *, per_sender: int) -> None:
    queue_due_texts(
        rt,
        patient_id="pwp",
        phone="+15550100078",
        key="wp",
        senders=SENDERS,
        count=per_sender * len(SENDERS),
    )


def _claim(rt: Runtime, worker_id: str, *, adopt: Adopt | None = None) -> list[Claimed]:
    with rt.transaction() as session:
        return claim_due(
            session,
            worker_id=worker_id,
            now=rt.clock.now(),
            limit=5,
            lease=LEASE,
            capacity=lambda channel, sender: 5.0,  # one sender covers a claim
            adopt=adopt,
        )


def _adoptable(rt: Runtime, takeover: Takeover, worker_id: str) -> list[str]:
    return list(_seen_dead(rt, takeover, worker_id))


def _seen_dead(rt: Runtime, takeover: Takeover, worker_id: str) -> Adopt:
    with rt.transaction() as session:
        return takeover.adoptable(session, worker_id=worker_id, now=rt.clock.now())


def _die(presence: Presence) -> None:
    """The process's connection drops (as under SIGKILL): no goodbye, no unlisting."""
    assert presence.connection is not None
    presence.connection.invalidate()
    presence.connection = None


def _wait_dead(rt: Runtime, worker_id: str) -> None:
    """The server ends the dropped connection's backend a moment later (its locks with it)."""
    deadline = time.monotonic() + 30  # a hang guard, not a timing
    while time.monotonic() < deadline:
        with rt.transaction() as session:
            if worker_id in dead_workers(session, worker_id="observer"):
                return
        time.sleep(0.01)
    raise AssertionError(f"{worker_id} never seen dead")


def _owners(rt: Runtime) -> set[str | None]:
    with rt.transaction() as session:
        return set(session.scalars(select(OutboxMessage.claimed_by).distinct()))


@pytest.fixture
def pg(rt: Runtime) -> Runtime:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("advisory locks need PostgreSQL")
    return rt


def test_a_dead_workers_senders_and_rows_are_adopted_before_their_leases_end(
    pg: Runtime,
) -> None:
    _queue(pg, per_sender=5)
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    mine = _claim(pg, "w1")
    with pg.transaction() as session:  # two of them at the gateway when it dies
        mark_calling(session, messages=mine[:2], worker_id="w1", now=pg.clock.now(), lease=LEASE)
    takeover = Takeover(grace=timedelta(0))
    # Alive (merely slow): its sender and rows stay its own, whatever anyone waits.
    assert _adoptable(pg, takeover, "w2") == []
    others = _claim(pg, "w2")
    assert {m.sender for m in others}.isdisjoint({m.sender for m in mine})
    assert _claim(pg, "w3") == []  # both senders leased, no lease run out
    _die(w1)
    _wait_dead(pg, "w1")
    adopt = _seen_dead(pg, takeover, "w3")
    assert list(adopt) == ["w1"]
    adopted = _claim(pg, "w3", adopt=adopt)
    # Its rows, under a lease of 60 s not run out, now w3's; the two at the gateway in doubt
    # (reconciled before any re-send), the others simply sent again.
    assert sorted(m.id for m in adopted) == sorted(m.id for m in mine)
    doubted = {m.id for m in adopted if m.in_doubt_since is not None}
    assert doubted == {m.id for m in mine[:2]}
    with pg.transaction() as session:
        leases = dict(session.execute(select(SenderSlot.sender_key, SenderSlot.leased_by)).all())
        owners = set(session.scalars(select(OutboxMessage.claimed_by).distinct()))
    assert leases == {f"sms:{mine[0].sender}": "w3", f"sms:{others[0].sender}": "w2"}
    assert owners == {"w2", "w3"}


def test_rows_a_worker_renewed_after_it_was_seen_dead_stay_its_own(
    pg: Runtime, clock: FrozenClock
) -> None:
    """Its connection was replaced (it lives): rows it renewed since the adopter first saw it
    dead are not adopted, even by a claim built on that sighting."""
    _queue(pg, per_sender=5)
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    mine = _claim(pg, "w1")
    _die(w1)
    _wait_dead(pg, "w1")
    adopt = _seen_dead(pg, Takeover(grace=timedelta(0)), "w2")
    clock.advance(timedelta(seconds=1))
    w1.hold()  # back, before the adopter's claim
    with pg.transaction() as session:
        renew_lease(session, ids=[m.id for m in mine], worker_id="w1", now=clock.now(), lease=LEASE)
    taken = _claim(pg, "w2", adopt=adopt)
    assert {m.sender for m in taken} == {SENDERS[1]}  # the free sender only
    assert _owners(pg) == {"w1", "w2"}
    with pg.transaction() as session:
        still = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.claimed_by == "w1")
        ).all()
    assert sorted(still) == sorted(m.id for m in mine)
    w1.close()


def test_a_worker_never_listed_is_never_taken_over(pg: Runtime) -> None:
    """Rows of a worker that never held the lock (an older release) wait for their leases:
    no lock is no proof of death."""
    _queue(pg, per_sender=5)
    ghosts = _claim(pg, "ghost")
    assert _adoptable(pg, Takeover(grace=timedelta(0)), "w2") == []
    assert {m.sender for m in _claim(pg, "w2")}.isdisjoint({m.sender for m in ghosts})
    assert _claim(pg, "w3") == []
    with pg.transaction() as session:
        still = session.scalars(
            select(OutboxMessage.id).where(OutboxMessage.claimed_by == "ghost")
        ).all()
    assert sorted(still) == sorted(m.id for m in ghosts)


def test_a_worker_is_adopted_only_once_seen_dead_for_the_grace(
    pg: Runtime, clock: FrozenClock
) -> None:
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    _die(w1)
    _wait_dead(pg, "w1")
    takeover = Takeover(grace=timedelta(seconds=1))
    assert _adoptable(pg, takeover, "w2") == []
    clock.advance(timedelta(milliseconds=999))
    assert _adoptable(pg, takeover, "w2") == []
    clock.advance(timedelta(milliseconds=1))
    assert _adoptable(pg, takeover, "w2") == ["w1"]


def test_a_dead_worker_left_with_nothing_is_unlisted(pg: Runtime) -> None:
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    _die(w1)
    _wait_dead(pg, "w1")
    assert _adoptable(pg, Takeover(grace=timedelta(0)), "w2") == ["w1"]
    with pg.transaction() as session:
        assert session.scalars(select(WorkerPresence.worker_id)).all() == []


def test_a_worker_id_held_by_a_live_process_is_refused_by_name(pg: Runtime) -> None:
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    try:
        with pytest.raises(InvalidInput, match="'w1' is held by another live worker"):
            hold_presence(pg.engine, worker_id="w1")
    finally:
        w1.close()
    again = hold_presence(pg.engine, worker_id="w1")  # released on leave
    assert again is not None
    again.close()


def test_a_worker_whose_lock_connection_dropped_takes_it_again_before_claiming(
    pg: Runtime,
) -> None:
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    assert w1.connection is not None
    w1.connection.invalidate()  # the connection lost under a live worker
    w1.hold()
    with pg.transaction() as session:
        assert dead_workers(session, worker_id="w2") == []
        assert session.scalars(select(WorkerPresence.worker_id)).all() == ["w1"]
    w1.close()


def test_a_worker_with_presence_off_takes_no_lock_and_is_never_listed(pg: Runtime) -> None:
    """Behind a transaction-mode pooler the lock would sit on a pooled backend: with
    ``worker.presence`` off the worker is never listed, so never adopted; leases decide."""
    worker = build_worker(pg, worker_id="w-off")
    own = worker.settings
    worker.settings = own.model_copy(
        update={"worker": own.worker.model_copy(update={"presence": False})}
    )
    _queue(pg, per_sender=1)
    worker.run_once()
    assert worker.presence is None
    with pg.transaction() as session:
        assert session.scalars(select(WorkerPresence.worker_id)).all() == []
        assert dead_workers(session, worker_id="observer") == []


def test_sqlite_keeps_one_worker_on_leases_alone(rt: Runtime) -> None:
    if rt.engine.dialect.name != "sqlite":
        pytest.skip("the SQLite side")
    assert hold_presence(rt.engine, worker_id="w1") is None


def test_a_worker_whose_lock_the_server_ended_sends_nothing_more(pg: Runtime) -> None:
    """The server ends the lock's session (the lock goes with it): the worker sees it before
    its next send, without a round trip, and stops instead of sending rows others may adopt."""
    worker = build_worker(pg, worker_id="w1")
    worker.run_once()  # nothing due; the lock is taken
    presence = worker.presence
    assert presence is not None
    assert presence.connection is not None
    assert presence.intact()
    pid = presence.connection.scalar(text("SELECT pg_backend_pid()"))
    with pg.transaction() as session:
        session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    deadline = time.monotonic() + 30  # a hang guard, not a timing
    while presence.intact() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not presence.intact()
    _queue(pg, per_sender=1)
    with pg.transaction() as session:
        claimed = claim_due(session, worker_id="w1", now=pg.clock.now(), limit=1, lease=LEASE)
    with pytest.raises(PresenceLost):
        worker.attempt_at(claimed[0], None)
    worker.leave()


def test_a_worker_listed_on_another_server_start_is_judged_by_its_leases(pg: Runtime) -> None:
    """A failover promotes a standby whose postmaster started long before the worker listed
    itself: the lock went with the old primary, not with the worker (revB)."""
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    _die(w1)
    _wait_dead(pg, "w1")
    with pg.transaction() as session:  # as replicated from the old primary
        session.execute(
            text(
                "UPDATE outreach_worker_presence SET server_started = "
                "pg_postmaster_start_time() - interval '1 day'"
            )
        )
        assert dead_workers(session, worker_id="w2") == []


def test_a_worker_run_again_at_once_takes_its_own_lock_again(pg: Runtime) -> None:
    """``run(once=True)`` leaves; the next one must not find its own lock still held (revB)."""
    for _ in range(50):
        p = hold_presence(pg.engine, worker_id="w-again")
        assert p is not None
        p.close()


def test_intact_from_concurrent_sender_threads_never_raises(pg: Runtime) -> None:
    """Sender threads share the lock connection: after the server ended it, each of them is
    told the lock is gone (False), none gets the driver's error (revB)."""
    for n in range(10):
        p = hold_presence(pg.engine, worker_id=f"w-thr-{n}")
        assert p is not None
        assert p.connection is not None
        pid = p.connection.scalar(text("SELECT pg_backend_pid()"))
        with pg.transaction() as session:
            session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(0.1)
        go = threading.Barrier(4)
        errors: list[BaseException] = []
        answers: list[bool] = []

        def check(
            p: Presence = p,
            go: threading.Barrier = go,
            errors: list[BaseException] = errors,
            answers: list[bool] = answers,
        ) -> None:
            go.wait()
            try:
                answers.append(p.intact())
            except Exception as exc:
                errors.append(exc)

        threads = [threading.Thread(target=check) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert answers == [False] * 4


class _DiesOnFirstCall(Blind):
    """A text gateway (unpaced) at whose first call another worker is killed; each call
    takes ``WATCH_EVERY`` of the frozen clock, as a real call takes time."""

    def __init__(self, rt: Runtime, clock: FrozenClock, dying: Presence) -> None:
        super().__init__(FakeChannel(ChannelKind.SMS))
        self.rt = rt
        self.clock = clock
        self.dying = dying

    def send(self, message: OutboundMessage) -> SendResult:
        if self.dying.connection is not None:
            _die(self.dying)
            _wait_dead(self.rt, self.dying.worker_id)
        self.clock.advance(WATCH_EVERY)
        return self.fake.send(message)


def test_a_death_seen_between_groups_is_adopted_at_the_next_claim_after_the_grace(
    pg: Runtime, clock: FrozenClock
) -> None:
    """A busy worker asks between its groups who died, so the grace runs while it sends:
    its next claim after the grace adopts (it used to see the death only at that claim, and
    adopt at the one after, up to half a lease later)."""
    _queue(pg, per_sender=5)
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    theirs = {m.id for m in _claim(pg, "w1")}  # one sender's five, leased for 60 s
    gateway = _DiesOnFirstCall(pg, clock, w1)
    w2 = build_worker(
        pg,
        worker_id="w2",
        channels=ChannelRegistry({ChannelKind.SMS: gateway}),  # type: ignore[dict-item]
    )
    try:
        first = w2.run_once()  # the other sender's five; w1 dies at the first call
        assert first.claimed == 5
        assert list(w2.takeover.first_seen) == ["w1"]
        clock.advance(TAKEOVER_GRACE)
        with pg.transaction() as session:
            still = set(
                session.scalars(select(OutboxMessage.id).where(OutboxMessage.claimed_by == "w1"))
            )
        assert still == theirs  # nothing of w1's taken before the grace
        second = w2.run_once()
        assert second.claimed == 5  # w1's five, its 60 s lease not run out
    finally:
        w2.leave()
    with pg.transaction() as session:
        assert not set(
            session.scalars(select(OutboxMessage.id).where(OutboxMessage.claimed_by == "w1"))
        )
        attempts = session.scalars(
            select(SendAttempt.worker).where(SendAttempt.message_id.in_(theirs))
        ).all()
    assert sorted(attempts) == ["w1"] * 5 + ["w2"] * 5


def test_a_live_worker_is_never_seen_dead_between_groups(pg: Runtime, clock: FrozenClock) -> None:
    """Asking between groups uses the same test as a claim: a worker holding its lock (slow,
    stopped) is not dead, and its rows stay its own."""
    _queue(pg, per_sender=5)
    w1 = hold_presence(pg.engine, worker_id="w1")
    assert w1 is not None
    _claim(pg, "w1")
    w2 = build_worker(pg, worker_id="w2")
    try:
        w2.run_once()
        w2.watch_peers()
        assert w2.takeover.first_seen == {}
        clock.advance(LEASE / 2)
        assert w2.run_once().claimed == 0
        assert _owners(pg) >= {"w1"}
    finally:
        w2.leave()
        w1.close()
