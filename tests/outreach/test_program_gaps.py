"""A program's own contact gap (``min_gap_hours:`` in its file), and the portal, which does not
interrupt: on both databases, through the real worker and recording gateways.

The property: whatever mix of programs (one stricter than the global gap, one looser, one
without its own) queues on any channel, due at any time, and whenever the worker wakes, the
gateways never see a spaced contact closer to an earlier interrupting contact than its own
program's gap; a portal message is neither held by the gap nor holds others back, yet it
still spends the budget; and every message goes, once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.outreach.test_outreach_budget import (
    CHANNELS,
    Delivery,
    Person,
    RecordingChannel,
    RecordingPortal,
    _address,
    _people,
    people,
    run_workers,
)

from careloop.channels.messages import ChannelKind
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.models import OutboxMessage
from careloop.outreach.budget import PROGRAM_GAP
from careloop.outreach.config import BudgetSettings
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.program import from_mapping
from careloop.runtime import Runtime

GLOBAL = timedelta(hours=3)
ROOMY = BudgetSettings(per_day=50, per_week=100, min_gap_hours=GLOBAL.total_seconds() / 3600)
"""A budget that never binds: what holds messages back is the gap alone."""
GAPS = {"strict": timedelta(hours=8), "loose": timedelta(hours=1), "screening": GLOBAL}
EXTRA = {
    "strict": {PROGRAM_GAP: 8.0},
    "loose": {PROGRAM_GAP: 1.0},
    "screening": {},
    "safety": {"transactional": True},  # a red-flag answer: never held, never counted
}

queued = st.tuples(
    st.integers(min_value=0, max_value=3),  # which patient (modulo how many there are)
    st.sampled_from(CHANNELS),
    st.sampled_from(sorted(EXTRA)),  # the program that decided it
    st.sampled_from([0, 0, 1, 30, 90, 200, 600, 1440]),  # due, minutes from now
)


def _registry(clock: FrozenClock, log: list[Delivery]) -> ChannelRegistry:
    return ChannelRegistry(
        {
            ChannelKind.SMS: RecordingChannel(ChannelKind.SMS, clock, log),
            ChannelKind.EMAIL: RecordingChannel(ChannelKind.EMAIL, clock, log),
            ChannelKind.VOICE: RecordingChannel(ChannelKind.VOICE, clock, log),
            ChannelKind.PORTAL: RecordingPortal(clock, log),
        }
    )


def _message(person: Person, *, key: str, channel: str, source: str, due: datetime) -> NewMessage:
    return NewMessage(
        idempotency_key=key,
        patient_id=person.pid,
        purpose="care-reminders",
        channel=channel,
        to_address=_address(person, channel),
        body="Your screening is due.",
        subject="Reminder" if channel in ("email", "portal") else None,
        program=None if source == "safety" else source,
        due_at=due,
        extra=EXTRA[source],
    )


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    drawn=st.lists(people, min_size=1, max_size=2),
    messages=st.lists(queued, min_size=2, max_size=10),
    steps=st.lists(st.integers(min_value=1, max_value=240), min_size=8, max_size=16),
)
def test_each_contact_keeps_its_own_programs_gap_and_the_portal_interrupts_nobody(
    rt: Runtime,
    clock: FrozenClock,
    drawn: list[tuple[str, str, bool]],
    messages: list[tuple[int, str, str, int]],
    steps: list[int],
) -> None:
    log: list[Delivery] = []
    registry = _registry(clock, log)
    persons = _people(rt, [(z, q, False) for z, q, _ in drawn])
    now = clock.now()
    keys: dict[str, str] = {}
    with rt.transaction() as session:
        rows = []
        for who, channel, source, minutes in messages:
            key = f"{source}:{uuid.uuid4().hex}"
            keys[key] = source
            person = persons[who % len(persons)]
            due = now + timedelta(minutes=minutes)
            rows.append(_message(person, key=key, channel=channel, source=source, due=due))
        enqueue_many(session, messages=rows, now=now)
    workers = 2 if rt.engine.dialect.name == "postgresql" else 1
    for minutes in steps:  # the worker waking at irregular times
        clock.advance(timedelta(minutes=minutes))
        run_workers(rt, registry, workers=workers, budget=ROOMY, prefix="pgap")
    for _ in range(4 * 24 // 2):  # then every two hours for four days: all must have gone
        clock.advance(timedelta(hours=2))
        run_workers(rt, registry, workers=workers, budget=ROOMY, prefix="pgap")

    by_address = {_address(p, c): p for p in persons for c in CHANNELS}
    seen = [d for d in log if d.message.idempotency_key in keys]
    sent = Counter(d.message.idempotency_key for d in seen)
    assert [k for k, n in sent.items() if n > 1] == []  # nothing twice
    assert set(sent) == set(keys)  # nothing dropped: a message too close waited
    for person in persons:
        mine = [
            (d.at, keys[d.message.idempotency_key], d.message.channel)
            for d in seen
            if by_address[d.message.to] == person
        ]
        for index, (at, source, channel) in enumerate(mine):
            if source == "safety" or channel == ChannelKind.PORTAL:
                continue
            interrupting = [
                c for c, kind, ch in mine[:index] if kind != "safety" and ch != ChannelKind.PORTAL
            ]
            assert not [c for c in interrupting if c > at - GAPS[source]], (source, at, mine)


def _one_patient_sends(
    rt: Runtime, clock: FrozenClock, sends: list[tuple[str, str]], budget: BudgetSettings
) -> list[tuple[str, str]]:
    """Queue ``(channel, program)`` messages to one patient, all due now, and run the worker
    once: each message's channel and state (with its dead reason)."""
    log: list[Delivery] = []
    registry = _registry(clock, log)
    [person] = _people(rt, [("America/New_York", "22-07", False)])
    now = clock.now()
    with rt.transaction() as session:
        rows = [
            _message(
                person,
                key=f"{person.pid}-{i}-{source}-{channel}",
                channel=channel,
                source=source,
                due=now,
            )
            for i, (channel, source) in enumerate(sends)
        ]
        enqueue_many(session, messages=rows, now=now)
    run_workers(rt, registry, workers=1, budget=budget, prefix="pone")
    with rt.transaction() as session:
        states = session.execute(
            select(OutboxMessage.channel, OutboxMessage.state, OutboxMessage.dead_reason)
            .where(OutboxMessage.patient_id == person.pid)
            .order_by(OutboxMessage.id)
        ).all()
    return [(c, f"{s}:{r}" if r else s) for c, s, r in states]


def test_a_portal_message_goes_beside_a_text_but_spends_the_budget(
    rt: Runtime, clock: FrozenClock
) -> None:
    """Before, the portal message waited three hours behind the text (it was spaced)."""
    clock.set(clock.now().replace(hour=16))  # 11:00 in New York, outside quiet hours
    both = [("sms", "screening"), ("portal", "screening")]
    one_a_day = BudgetSettings(per_day=1, per_week=10, min_gap_hours=3)

    roomy = _one_patient_sends(rt, clock, both, ROOMY)
    spent = _one_patient_sends(rt, clock, both, one_a_day)

    assert roomy == [("sms", "sent"), ("portal", "sent")]
    assert spent == [("sms", "sent"), ("portal", "dead:over-budget")]


def test_a_program_file_sets_its_own_gap_and_refuses_a_negative_one() -> None:
    base = {"name": "strict", "steps": [{"id": "s1", "message": "screening_due"}]}

    assert from_mapping({**base, "min_gap_hours": 12}).min_gap_hours == 12.0
    assert from_mapping(base).min_gap_hours is None
    with pytest.raises(InvalidInput, match="min_gap_hours"):
        from_mapping({**base, "min_gap_hours": -1})
