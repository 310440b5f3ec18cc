"""The event log: append-only, ordered, filterable."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError

from careloop.clock import FrozenClock
from careloop.events import EventKind, NewEvent, list_events, record_event, record_events
from careloop.models import Event
from careloop.runtime import Runtime


def test_events_are_listed_in_the_order_they_happened(rt: Runtime, clock: FrozenClock) -> None:
    with rt.transaction() as session:
        record_event(session, kind=EventKind.SENT, clock=clock, actor="worker", patient_id="p1")
        clock.advance(timedelta(minutes=5))
        record_event(session, kind=EventKind.REPLIED, clock=clock, actor="sms", patient_id="p1")
        record_event(session, kind=EventKind.SENT, clock=clock, actor="worker", patient_id="p2")
    with rt.transaction() as session:
        kinds = [e.kind for e in list_events(session, patient_id="p1")]
        replies = list_events(session, kinds=[EventKind.REPLIED])
    assert kinds == ["sent", "replied"]
    assert [e.patient_id for e in replies] == ["p1"]
    assert replies[0].occurred_at == clock.now()


def test_the_database_refuses_to_rewrite_an_event(rt: Runtime, clock: FrozenClock) -> None:
    with rt.transaction() as session:
        record_event(session, kind="sent", clock=clock, actor="worker", payload={"n": 1})
    with pytest.raises(DBAPIError), rt.transaction() as session:
        session.execute(update(Event).values(kind="forged"))
    with rt.transaction() as session:
        assert [e.kind for e in list_events(session)] == ["sent"]


def _log(rt: Runtime, actor: str) -> list[tuple[object, ...]]:
    with rt.transaction() as session:
        return [
            (e.kind, e.patient_id, e.occurred_at, e.recorded_at, e.subject_id, e.payload)
            for e in session.scalars(select(Event).where(Event.actor == actor).order_by(Event.id))
        ]


@pytest.mark.parametrize("copy_from", [1, 10**6])  # by COPY on PostgreSQL, and by INSERT
def test_a_batch_of_events_is_logged_as_one_by_one_and_in_order(
    rt: Runtime, clock: FrozenClock, copy_from: int
) -> None:
    batch = [
        NewEvent(
            kind=EventKind.ELIGIBLE,
            actor=actor,
            patient_id=f"p{k}",
            occurred_at=clock.now() - timedelta(days=k) if k % 2 else None,
            subject_id=str(k),
            payload={"reason": 'a "gap"\t\\ «ok»', "k": k} if k % 3 else None,
        )
        for actor in ("one", "batch")
        for k in range(40)
    ]
    with rt.transaction() as session:
        for event in batch[:40]:
            record_event(session, clock=clock, flush=False, **asdict(event))
        record_event(session, kind="sent", clock=clock, actor="batch", flush=False)
        assert record_events(session, events=batch[40:], clock=clock, copy_from=copy_from) == 40
        assert len(list_events(session, kinds=[EventKind.ELIGIBLE])) == 80  # seen at once
    one_by_one = _log(rt, "one")
    batched = _log(rt, "batch")
    assert batched[0][0] == "sent"  # left pending before the batch, so first in the log
    assert batched[1:] == one_by_one
