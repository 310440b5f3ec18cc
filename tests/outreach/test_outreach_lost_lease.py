"""A worker that lost its lease writes no result for the rows it no longer holds (issue 15
item 3): a slow adopter (its gateway look-ups outlasting its lease) recorded a message
``sent`` after another worker had re-claimed it, so the new owner's attempt stayed
``started`` for good and the event named an attempt already closed as skipped. And the
adopter renews its lease while its look-ups are in flight, so it normally keeps them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, update
from tests.outreach.conftest import Loop
from tests.outreach.test_outreach_dispatch import PROPERTY, _calls_per_key, _queue, _states

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import DeliveryStatus, OutboundMessage, SendResult
from careloop.models import Event, OutboxMessage, SendAttempt
from careloop.outreach import in_doubt
from careloop.outreach.claims import Claimed, claim_due
from careloop.outreach.results import Outcome, record_group
from careloop.runtime import Runtime

LEASE = timedelta(seconds=3)

T = TypeVar("T")
R = TypeVar("R")


def _record(rt: Runtime, worker: str, outcomes: list[Outcome], calling: list[Claimed]) -> set[int]:
    with rt.transaction() as session:
        _, ours = record_group(
            session,
            outcomes=outcomes,
            calling=calling,
            worker_id=worker,
            now=rt.clock.now(),
            lease=LEASE,
            backoff=lambda _attempt: timedelta(seconds=30),
        )
    return ours


def _outcome(message: Claimed, kind: str, sid: str) -> Outcome:
    found = SendResult(provider_id=sid, status=DeliveryStatus.QUEUED)
    if kind == "reconciled":
        return Outcome(message, result=found, reconciled=True)
    if kind == "sent":
        return Outcome(message, result=found)
    if kind == "in-doubt":
        return Outcome(message, in_doubt=True)
    return Outcome(message, error=ChannelError(FailureReason.TIMEOUT, permanent=False))


def _attempts(rt: Runtime, ids: Iterable[int]) -> dict[tuple[int, int], tuple[str, str, bool]]:
    """(message, number) -> (worker, outcome, finished)."""
    with rt.transaction() as session:
        rows = session.execute(
            select(
                SendAttempt.message_id,
                SendAttempt.number,
                SendAttempt.worker,
                SendAttempt.outcome,
                SendAttempt.finished_at,
            ).where(SendAttempt.message_id.in_(list(ids)))
        ).all()
    return {(m, n): (w, o, f is not None) for m, n, w, o, f in rows}


def _events(rt: Runtime, ids: Iterable[int]) -> list[tuple[int, str, int]]:
    """(message, kind, attempt named) of each event about these messages."""
    with rt.transaction() as session:
        rows = session.execute(
            select(Event.subject_id, Event.kind, Event.payload).where(
                Event.subject_type == "outbox_message",
                Event.subject_id.in_([str(i) for i in ids]),
            )
        ).all()
    return sorted((int(s), k, int(p["attempt"])) for s, k, p in rows)


@PROPERTY
@given(
    n=st.integers(min_value=1, max_value=5),
    data=st.data(),
)
def test_results_of_rows_another_worker_took_are_left_to_it_and_its_attempts_finish(
    rt: Runtime, n: int, data: st.DataObject
) -> None:
    kinds = st.sampled_from(["reconciled", "sent", "in-doubt", "transient"])
    _queue(rt, n)
    with rt.transaction() as session:
        claimed = claim_due(session, worker_id="w1", now=rt.clock.now(), limit=n, lease=LEASE)
    ids = [m.id for m in claimed]
    assert _record(rt, "w1", [], claimed) == set(ids)  # w1 about to ask the gateway
    taken = set(data.draw(st.lists(st.sampled_from(ids), unique=True), label="taken"))
    w1_kinds = {m.id: data.draw(kinds, label=f"w1 {m.id}") for m in claimed}
    # w1's look-ups outlast its lease on the ``taken`` rows, which w2 re-claims.
    with rt.transaction() as session:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(taken))
            .values(lease_until=rt.clock.now() - timedelta(seconds=1))
        )
        w2 = claim_due(session, worker_id="w2", now=rt.clock.now(), limit=n, lease=LEASE)
    assert {m.id for m in w2} == taken
    assert all(m.in_doubt_since is not None for m in w2)
    # w1 comes back and records what its gateway look-ups found, for all of its group.
    _record(rt, "w1", [_outcome(m, w1_kinds[m.id], f"SM-w1-{m.id}") for m in claimed], [])
    if w2:  # w2 goes on with what it took: still all its own, asks, records.
        assert _record(rt, "w2", [], w2) == taken
        _record(rt, "w2", [_outcome(m, "reconciled", f"SM-w2-{m.id}") for m in w2], [])

    attempts = _attempts(rt, ids)
    assert [key for key, (_w, _o, finished) in attempts.items() if not finished] == []
    expected_state = {"reconciled": "sent", "sent": "sent", "in-doubt": "in-doubt"}
    with rt.transaction() as session:
        rows = {
            r.id: (r.state, r.provider_id, r.claimed_by)
            for r in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)))
        }
    for m in claimed:
        if m.id in taken:
            # w1's attempt stays what w2's claim made of it; w2's is the one that finished.
            assert attempts[(m.id, 1)][:2] == ("w1", "in-doubt")
            assert attempts[(m.id, 2)][:2] == ("w2", "reconciled")
            assert rows[m.id][:2] == ("sent", f"SM-w2-{m.id}")
        else:
            state = expected_state.get(w1_kinds[m.id], "failed-transient")
            assert rows[m.id][0] == state
            assert (m.id, 2) not in attempts
    events = _events(rt, ids)
    # One event per message, from its owner, naming the owner's attempt: none sent twice.
    assert [(i, a) for i, _k, a in events] == sorted(
        (m.id, 2 if m.id in taken else 1) for m in claimed
    )


class _InTurn:
    """A look-up pool that asks one at a time, each when its answer is wanted: the worker's
    between-answers step runs between two look-ups, deterministically."""

    def __init__(self, **_kwargs: Any) -> None:
        pass

    def __enter__(self) -> _InTurn:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        return (fn(item) for item in items)


def test_an_adopter_keeps_its_lease_through_slow_look_ups_and_sends_each_once(
    rt: Runtime, make_loop: Callable[..., Loop], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four texts in doubt (a dead worker's, marked ``calling``; the gateway took two of
    them), each look-up taking 0.4 of a lease: by the third, another worker looking for
    expired leases finds none, and the adopter sends the two missing ones once."""
    loop = make_loop([], {})
    own = loop.worker.settings
    leased = own.worker.model_copy(update={"lease_seconds": LEASE.total_seconds()})
    loop.worker.settings = own.model_copy(update={"worker": leased})
    monkeypatch.setattr(in_doubt, "ThreadPoolExecutor", _InTurn)
    keys = _queue(rt, 4)
    with rt.transaction() as session:
        dead = claim_due(session, worker_id="w0", now=rt.clock.now(), limit=4, lease=LEASE)
    _record(rt, "w0", [], dead)
    for message in dead[:2]:  # reached the gateway before w0 died
        loop.sms.send(loop.worker.outbound(message))
    loop.advance(LEASE + timedelta(seconds=1))

    real = loop.sms.find_sent
    looked: list[int] = []
    competitor: list[Claimed] = []

    def slow_find_sent(message: OutboundMessage, *, since: Any) -> list[SendResult]:
        loop.advance(LEASE * 0.4)
        looked.append(1)
        if len(looked) == 3:
            with rt.transaction() as session:
                competitor.extend(
                    claim_due(session, worker_id="w3", now=loop.clock.now(), limit=4, lease=LEASE)
                )
        return real(message, since=since)

    loop.sms.find_sent = slow_find_sent  # type: ignore[method-assign]
    report = loop.work()
    assert (len(looked), competitor) == (4, [])
    assert (report.sent, report.reconciled) == (4, 2)
    assert _calls_per_key(loop.sms, keys) == [1, 1, 1, 1]
    assert _states(rt, keys) == ["sent"] * 4
    ids = [m.id for m in dead]
    assert all(finished for _w, _o, finished in _attempts(rt, ids).values())
    assert [k for _i, k, _a in _events(rt, ids)] == ["sent"] * 4
