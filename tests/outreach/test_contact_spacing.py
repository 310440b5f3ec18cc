"""Spacing between contacts: two programs (or channels) never reach one patient within the
minimum gap, at decision or at dispatch, and a message that comes due too close waits for
the gap to end instead of being dropped. Replies to the patient's own message, a care-team
member's message and safety answers are exempt.

The property: whatever programs queue, on any channel, due at any hour (several in the same
minute), and whenever the worker wakes (two at once on PostgreSQL), the gateways never see
two non-exempt contacts to a patient closer than the gap (nor one closer than the gap after
any contact), a message inside quiet hours, or one message twice; and every message goes.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.outreach.conftest import SCREENING, Loop, make_patient, program
from tests.outreach.test_outreach_budget import (
    CHANNELS,
    Delivery,
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
from careloop.models import DecisionRow, OutboxMessage
from careloop.outreach.config import BudgetSettings, OutreachSettings
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.states import OutboxState
from careloop.personalize.profile import QuietHours
from careloop.runtime import Runtime

GAP = timedelta(hours=3)
ROOMY = BudgetSettings(per_day=50, per_week=100, min_gap_hours=GAP.total_seconds() / 3600)
"""A budget that never binds, so what holds messages back is the gap alone."""
EXTRA = {
    "screening": {},
    "appointments": {},
    "staff": {"staff": True, "staff_message": True},  # a person chose to send it now
    "reply": {"requested": "checkin-next"},  # the next question after the patient's answer
    "safety": {"transactional": True},  # a red-flag answer: never held, never counted
}
EXEMPT = {"staff", "reply", "safety"}

queued = st.tuples(
    st.integers(min_value=0, max_value=3),  # which patient (modulo how many there are)
    st.sampled_from(CHANNELS),
    st.sampled_from(sorted(EXTRA)),  # the program (or person) that decided
    st.sampled_from([0, 0, 1, 30, 90, 200, 600, 1440, 1500]),  # due, minutes from now
)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    drawn=st.lists(people, min_size=1, max_size=2),
    messages=st.lists(queued, min_size=2, max_size=10),
    steps=st.lists(st.integers(min_value=1, max_value=240), min_size=10, max_size=20),
)
def test_no_two_contacts_closer_than_the_gap_none_at_night_none_twice_none_dropped(
    rt: Runtime,
    clock: FrozenClock,
    drawn: list[tuple[str, str, bool]],
    messages: list[tuple[int, str, str, int]],
    steps: list[int],
) -> None:
    log: list[Delivery] = []
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: RecordingChannel(ChannelKind.SMS, clock, log),
            ChannelKind.EMAIL: RecordingChannel(ChannelKind.EMAIL, clock, log),
            ChannelKind.VOICE: RecordingChannel(ChannelKind.VOICE, clock, log),
            ChannelKind.PORTAL: RecordingPortal(clock, log),
        }
    )
    persons = [
        replace(p, opted_out=False) for p in _people(rt, [(z, q, False) for z, q, _ in drawn])
    ]
    now = clock.now()
    keys: dict[str, str] = {}
    with rt.transaction() as session:
        rows = []
        for who, channel, source, minutes in messages:
            key = f"{source}:{uuid.uuid4().hex}"
            keys[key] = source
            person = persons[who % len(persons)]
            rows.append(
                NewMessage(
                    idempotency_key=key,
                    patient_id=person.pid,
                    purpose="care-reminders",
                    channel=channel,
                    to_address=_address(person, channel),
                    body="Your screening is due.",
                    subject="Reminder" if channel in ("email", "portal") else None,
                    program=source if source in ("screening", "appointments") else None,
                    due_at=now + timedelta(minutes=minutes),
                    extra=EXTRA[source],
                )
            )
        enqueue_many(session, messages=rows, now=now)
    workers = 2 if rt.engine.dialect.name == "postgresql" else 1
    for minutes in steps:  # the worker waking at irregular times, sometimes a minute apart
        clock.advance(timedelta(minutes=minutes))
        run_workers(rt, registry, workers=workers, budget=ROOMY, prefix="gap")
    for _ in range(4 * 24 // 2):  # then every two hours for four days: all must have gone
        clock.advance(timedelta(hours=2))
        run_workers(rt, registry, workers=workers, budget=ROOMY, prefix="gap")

    by_address = {_address(p, c): p for p in persons for c in CHANNELS}
    seen = [d for d in log if d.message.idempotency_key in keys]
    sent = Counter(d.message.idempotency_key for d in seen)
    assert [k for k, n in sent.items() if n > 1] == []  # nothing twice
    assert set(sent) == set(keys)  # nothing dropped: a message too close waited
    for person in persons:
        # In the order the gateways saw them: an exempt message may go in the same moment
        # as a spaced one, after it, never a spaced one after another contact within the gap.
        # A portal message does not interrupt: it is neither spaced nor spaces the others.
        mine = [
            (d.at, keys[d.message.idempotency_key], d.message.channel)
            for d in seen
            if by_address[d.message.to] == person
        ]
        for index, (at, source, channel) in enumerate(mine):
            if source in EXEMPT or channel == ChannelKind.PORTAL:
                continue
            earlier = [
                c for c, kind, ch in mine[:index] if kind != "safety" and ch != ChannelKind.PORTAL
            ]
            assert not [c for c in earlier if c > at - GAP], (at, mine)
        quiet = QuietHours.parse(person.quiet)
        for at, source, _channel in mine:
            local = at.astimezone(ZoneInfo(person.zone))
            assert source == "safety" or not quiet.contains(local.hour * 60 + local.minute)


def test_a_program_deciding_within_the_gap_of_another_programs_contact_is_held(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """An appointment program's reminders are queued every three hours all week; the
    screening program, deciding now, finds no send time four hours clear of them: held
    (``contact_budget``, the step retried later), although the day and week budget allow."""
    pid = f"gap-{uuid.uuid4().hex[:8]}"
    make_patient(rt, patient_id=pid, phone="+15550100079")
    loop = make_loop([program(SCREENING, actions={"channels": ["sms"]})], {})
    loop.ctx = replace(
        loop.ctx,
        eligibility=ExplicitEligibility({"screening-test": [Candidate(pid, "2026")]}),
        settings=OutreachSettings(
            budget=BudgetSettings(per_day=100, per_week=100, min_gap_hours=4)
        ),
    )
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"appt:{pid}:{n}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100079",
                    body="An appointment reminder.",
                    program="appointments",
                    due_at=now + timedelta(hours=3 * n),
                )
                for n in range(8 * 8)
            ],
            now=now,
        )

    report = loop.tick()

    with rt.transaction() as session:
        held = session.scalars(
            select(DecisionRow).where(DecisionRow.patient_id == pid, DecisionRow.send_at.is_(None))
        ).all()
        screening = session.scalars(
            select(OutboxMessage.id).where(
                OutboxMessage.patient_id == pid, OutboxMessage.program == "screening-test"
            )
        ).all()
    assert (report.queued, report.blocked) == (0, 1)
    assert screening == []
    assert "hours between contacts" in str(held[0].removals)


def test_a_second_program_due_the_same_minute_is_sent_when_the_gap_ends(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """Two programs' texts due in the same minute (decided apart, so only dispatch sees
    them together): the first goes, the second is handed back due four hours later (not
    dead, not an attempt) and goes then."""
    pid = f"gap2-{uuid.uuid4().hex[:8]}"
    make_patient(rt, patient_id=pid, phone="+15550100080", timezone="UTC")
    loop = make_loop([], {})
    loop.worker.settings = OutreachSettings(
        budget=BudgetSettings(per_day=10, per_week=10, min_gap_hours=4)
    )
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"{name}:{pid}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100080",
                    body=f"A reminder from {name}.",
                    program=name,
                    due_at=now,
                )
                for name in ("appointments", "screening")
            ],
            now=now,
        )

    first = loop.work()
    with rt.transaction() as session:
        waiting = session.execute(
            select(
                OutboxMessage.state, OutboxMessage.next_attempt_at, OutboxMessage.attempts
            ).where(OutboxMessage.patient_id == pid, OutboxMessage.sent_at.is_(None))
        ).one()
    loop.advance(timedelta(hours=3, minutes=59))
    early = loop.work()
    loop.advance(timedelta(minutes=1))
    later = loop.work()

    assert (first.sent, first.deferred, first.dead) == (1, 1, 0)
    assert waiting.state == str(OutboxState.QUEUED)
    assert waiting.next_attempt_at.replace(tzinfo=None) == (now + timedelta(hours=4)).replace(
        tzinfo=None
    )
    assert waiting.attempts == 0
    assert early.sent == 0
    assert later.sent == 1
    assert [s.message.body for s in loop.sms.sent] == [
        "A reminder from appointments.",
        "A reminder from screening.",
    ]
