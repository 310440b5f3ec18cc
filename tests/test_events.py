"""The event log: append-only, ordered, filterable."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError

from careloop.clock import FrozenClock
from careloop.events import EventKind, list_events, record_event
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
