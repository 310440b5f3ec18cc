"""Sends a gateway accepts once: the worker dies between a provider call and its record, the
gateway (a recording fake: it never deduplicates) is reconciled before anything is re-sent."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.outreach.conftest import Loop, WorkerKilled, dies_after_sends, make_patient
from tests.statements import statements

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, RateLimit, SendResult
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock, ensure_utc
from careloop.compose.worker import build_worker
from careloop.models import OutboxMessage, SendAttempt
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

PROPERTY = settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Blind:
    """A gateway that cannot be asked what it sent (no ``find_sent``), recording every call
    (a text gateway unless ``kind`` says otherwise)."""

    def __init__(self, fake: FakeChannel, kind: ChannelKind = ChannelKind.SMS) -> None:
        self.fake = fake
        self._kind = kind

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        return None

    def send(self, message: OutboundMessage) -> SendResult:
        return self.fake.send(message)


def _queue(rt: Runtime, n: int, *, same_text: bool = False, senders: int = 1) -> list[str]:
    """``n`` due texts; with ``same_text`` all say the same to the same number (so the
    gateway's list cannot tell them apart by recipient, sender and body). ``senders``: how
    many short codes they are spread over (``SENDER`` first)."""
    tag = uuid.uuid4().hex[:8]
    keys = [f"dispatch:{tag}:{i}" for i in range(n)]
    now = rt.clock.now()
    phones = ["+16175550000" if same_text else f"+1617555{i:04d}" for i in range(n)]
    for i in range(n):  # the worker texts only a number the record lists
        make_patient(rt, patient_id=f"d-{tag}-{i}", phone=phones[i])
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=key,
                    patient_id=f"d-{tag}-{i}",
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phones[i],
                    sender=_sender(i % senders),
                    body="Your screening is due." if same_text else f"Reminder {i}: due.",
                    due_at=now,
                )
                for i, key in enumerate(keys)
            ],
            now=now,
        )
    return keys


def _sender(index: int) -> str:
    return f"+1555000{9999 - index:04d}"


def _states(rt: Runtime, keys: list[str]) -> list[str]:
    with rt.transaction() as session:
        return list(
            session.scalars(
                select(OutboxMessage.state).where(OutboxMessage.idempotency_key.in_(keys))
            )
        )


def _kill_then_recover(loop: Loop, fake: FakeChannel, killed_after: int) -> None:
    with dies_after_sends(fake, killed_after), contextlib.suppress(WorkerKilled):
        loop.worker.run_once()
    loop.advance(timedelta(seconds=loop.worker.settings.worker.lease_seconds + 1))
    loop.work()


def _calls_per_key(fake: FakeChannel, keys: list[str]) -> list[int]:
    return [sum(1 for a in fake.attempts if a.idempotency_key == key) for key in keys]


@PROPERTY
@given(
    n=st.integers(min_value=2, max_value=8),
    same_text=st.booleans(),
    per_commit=st.integers(min_value=1, max_value=4),
    data=st.data(),
)
def test_a_worker_killed_mid_batch_sends_nothing_twice_once_reconciled(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    n: int,
    same_text: bool,
    per_commit: int,
    data: st.DataObject,
) -> None:
    loop = make_loop([], {})
    own = loop.worker.settings
    grouped = own.worker.model_copy(update={"results_per_commit": per_commit})
    loop.worker.settings = own.model_copy(update={"worker": grouped})
    keys = _queue(rt, n, same_text=same_text)
    killed_after = data.draw(st.integers(min_value=1, max_value=n))
    _kill_then_recover(loop, loop.sms, killed_after)
    assert _calls_per_key(loop.sms, keys) == [1] * n
    assert _states(rt, keys) == ["sent"] * n
    with rt.transaction() as session:
        reconciled = session.scalars(
            select(SendAttempt.outcome)
            .join(OutboxMessage, OutboxMessage.id == SendAttempt.message_id)
            .where(SendAttempt.outcome == "reconciled", OutboxMessage.idempotency_key.in_(keys))
        ).all()
    # In doubt and found in the gateway's list: the sends since the last group commit. Texts
    # the list cannot tell apart (same number, sender, words) are marked calling one at a
    # time, so only the one in flight at the kill is.
    unrecorded = 1 if same_text else killed_after - per_commit * ((killed_after - 1) // per_commit)
    assert len(reconciled) == unrecorded


@PROPERTY
@given(n=st.integers(min_value=2, max_value=8), data=st.data())
def test_a_gateway_that_cannot_be_asked_holds_the_one_in_doubt_for_review(
    rt: Runtime, make_loop: Callable[..., Loop], n: int, data: st.DataObject
) -> None:
    loop = make_loop([], {})
    blind = Blind(loop.sms)
    loop.worker.channels = ChannelRegistry({ChannelKind.SMS: blind})  # type: ignore[dict-item]
    keys = _queue(rt, n)
    killed_after = data.draw(st.integers(min_value=1, max_value=n))
    _kill_then_recover(loop, loop.sms, killed_after)
    assert _calls_per_key(loop.sms, keys) == [1] * n
    assert sorted(_states(rt, keys)) == ["in-doubt"] + ["sent"] * (n - 1)


@PROPERTY
@given(n=st.integers(min_value=2, max_value=8), data=st.data())
def test_resending_what_cannot_be_reconciled_duplicates_at_most_one_per_kill(
    rt: Runtime, make_loop: Callable[..., Loop], n: int, data: st.DataObject
) -> None:
    loop = make_loop([], {})
    loop.worker.channels = ChannelRegistry({ChannelKind.SMS: Blind(loop.sms)})  # type: ignore[dict-item]
    own = loop.worker.settings
    resend = own.worker.model_copy(update={"resend_in_doubt": True})
    loop.worker.settings = own.model_copy(update={"worker": resend})
    keys = _queue(rt, n)
    killed_after = data.draw(st.integers(min_value=1, max_value=n))
    _kill_then_recover(loop, loop.sms, killed_after)
    calls = _calls_per_key(loop.sms, keys)
    assert sum(calls) - n <= 1
    assert _states(rt, keys) == ["sent"] * n


def test_a_timed_out_send_is_reconciled_before_it_is_retried(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    loop = make_loop([], {})
    keys = _queue(rt, 1)
    real = loop.sms.send

    def accepted_then_timed_out(message: OutboundMessage) -> SendResult:
        real(message)
        raise ChannelError(FailureReason.TIMEOUT, permanent=False, detail="outcome unknown")

    loop.sms.send = accepted_then_timed_out  # type: ignore[method-assign]
    loop.worker.run_once()
    loop.sms.send = real  # type: ignore[method-assign]
    loop.advance(timedelta(hours=2))
    loop.work()
    assert _calls_per_key(loop.sms, keys) == [1]
    assert _states(rt, keys) == ["sent"]


def test_a_dead_workers_group_in_doubt_is_settled_with_one_look_up_before_any_resend(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """A group of six left ``calling`` by a kill after five sends: whoever re-claims it asks
    the gateway about each and looks up which of its records are already recorded in one
    statement for the group; the five found are recorded sent, the sixth sent once."""
    loop = make_loop([], {})
    own = loop.worker.settings
    grouped = own.worker.model_copy(update={"results_per_commit": 6})
    loop.worker.settings = own.model_copy(update={"worker": grouped})
    keys = _queue(rt, 10)
    with dies_after_sends(loop.sms, 5), contextlib.suppress(WorkerKilled):
        loop.worker.run_once()
    loop.advance(timedelta(seconds=loop.worker.settings.worker.lease_seconds + 1))
    with statements(rt.engine) as reads:
        loop.work()
    assert _calls_per_key(loop.sms, keys) == [1] * 10
    assert _states(rt, keys) == ["sent"] * 10
    assert sum("provider_id IN" in read for read in reads) == 1
    with rt.transaction() as session:
        reconciled = session.scalars(
            select(SendAttempt.id).where(SendAttempt.outcome == "reconciled")
        ).all()
    assert len(reconciled) == 5


def test_a_batchs_sends_in_doubt_found_at_the_gateway_take_no_send_slot(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """Re-claimed after a kill, the sends in doubt are settled before the batch's slots are
    reserved: the five the gateway has are recorded sent without a slot (a paced sender's
    slots go to what is still to send), the sixth and the rest are sent once, each in its
    slot."""
    loop = make_loop([], {})
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={
            "worker": own.worker.model_copy(update={"results_per_commit": 6}),
            "sender_rates": {f"sms:{_sender(0)}": 1000.0},
        }
    )
    keys = _queue(rt, 10)
    with dies_after_sends(loop.sms, 5), contextlib.suppress(WorkerKilled):
        loop.worker.run_once()
    loop.advance(timedelta(seconds=loop.worker.settings.worker.lease_seconds + 1))
    loop.work()
    assert _calls_per_key(loop.sms, keys) == [1] * 10
    assert _states(rt, keys) == ["sent"] * 10
    with rt.transaction() as session:
        slots = dict(
            session.execute(
                select(SendAttempt.outcome, func.count(SendAttempt.slot_at)).group_by(
                    SendAttempt.outcome
                )
            ).all()
        )
    assert slots["reconciled"] == 0  # five reconciled, none holding a slot
    assert slots["accepted"] == 5  # the sixth and the four never called, each in its slot


def test_a_worker_that_finds_its_gateway_slow_claims_only_what_it_can_send_within_its_lease(
    rt: Runtime, make_loop: Callable[..., Loop], clock: FrozenClock
) -> None:
    loop = make_loop([], {})
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={"worker": own.worker.model_copy(update={"batch": 8, "lease_seconds": 3.0})}
    )
    keys = _queue(rt, 20)
    real = loop.sms.send

    def half_a_second_each(message: OutboundMessage) -> SendResult:
        clock.advance(timedelta(seconds=0.5))  # a gateway answering in 500 ms
        return real(message)

    loop.sms.send = half_a_second_each  # type: ignore[method-assign]
    first = loop.worker.run_once()
    second = loop.worker.run_once()
    rest = loop.worker.run(once=True)

    assert (first.claimed, first.sent) == (8, 8)
    assert (second.claimed, second.sent) == (3, 3)  # 2 msg/s x 1.5 s (half the lease)
    assert rest.sent == 9
    assert _calls_per_key(loop.sms, keys) == [1] * 20


def test_a_group_slower_than_its_lease_is_renewed_so_no_other_worker_sends_it_too(
    rt: Runtime, make_loop: Callable[..., Loop], clock: FrozenClock
) -> None:
    loop = make_loop([], {})
    own = loop.worker.settings
    slow = own.worker.model_copy(update={"lease_seconds": 3.0, "results_per_commit": 10})
    loop.worker.settings = own.model_copy(update={"worker": slow})
    other = build_worker(rt, worker_id="other-worker", channels=loop.worker.channels)
    other.settings = loop.worker.settings
    other.sleep = lambda _s: None
    keys = _queue(rt, 10)
    real = loop.sms.send

    def one_second_each_while_another_worker_polls(message: OutboundMessage) -> SendResult:
        clock.advance(timedelta(seconds=1))  # a gateway answering in 1 s
        loop.sms.send = real  # type: ignore[method-assign]
        try:
            other.run_once()  # claims whatever lease has run out, reconciles, sends
        finally:
            loop.sms.send = one_second_each_while_another_worker_polls  # type: ignore[method-assign]
        return real(message)

    loop.sms.send = one_second_each_while_another_worker_polls  # type: ignore[method-assign]
    loop.worker.run_once()
    loop.sms.send = real  # type: ignore[method-assign]
    loop.work()
    assert _calls_per_key(loop.sms, keys) == [1] * 10
    assert _states(rt, keys) == ["sent"] * 10


@dataclass
class CommitsTaking(Runtime):
    """The test's runtime, whose commits take ``commit`` of the frozen clock's time to
    return (a loaded database)."""

    commit: timedelta = timedelta(0)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with super().transaction() as session:
            yield session
        assert isinstance(self.clock, FrozenClock)
        self.clock.advance(self.commit)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    count=st.integers(min_value=20, max_value=60),
    first_ms=st.integers(min_value=2, max_value=300),
    per_send_tenths_ms=st.integers(min_value=11, max_value=80),
    commit_ms=st.integers(min_value=0, max_value=40),
)
def test_a_worker_keeping_its_pace_never_sleeps_for_a_slot_its_senders_rate_does_not_need(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    clock: FrozenClock,
    count: int,
    first_ms: int,
    per_send_tenths_ms: int,
    commit_ms: int,
) -> None:
    """A gateway answering in ``per_send`` (its first answer in ``first_ms``: a cold client)
    for short codes allowed 1,000 msg/s each, faster than the worker can send: the worker
    never waits for a slot (it slept 40 % of its time before, for slots placed from an
    estimate that overshot), and every send still falls in its slot's tolerance."""
    loop = make_loop([], {})
    loop.worker.runtime = CommitsTaking(
        settings=rt.settings,
        clock=clock,
        engine=rt.engine,
        sessions=rt.sessions,
        commit=timedelta(milliseconds=commit_ms),
    )
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={
            "sender_rates": {f"sms:{_sender(i)}": 1000.0 for i in range(count)},
            "worker": own.worker.model_copy(update={"results_per_commit": 10, "slot_lead_ms": 0}),
        }
    )
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(timedelta(seconds=seconds))

    loop.worker.sleep = sleep
    steady = timedelta(microseconds=per_send_tenths_ms * 100)
    answers = [timedelta(milliseconds=first_ms)]
    sent_at: dict[str, datetime] = {}
    real = loop.sms.send

    def answering_at_a_steady_pace(message: OutboundMessage) -> SendResult:
        sent_at[message.idempotency_key] = clock.now()
        clock.advance(answers.pop() if answers else steady)
        return real(message)

    loop.sms.send = answering_at_a_steady_pace  # type: ignore[method-assign]
    keys = _queue(rt, count, senders=count)
    loop.work()

    with rt.transaction() as session:
        slots = dict(
            session.execute(
                select(OutboxMessage.idempotency_key, SendAttempt.slot_at)
                .join(SendAttempt, SendAttempt.message_id == OutboxMessage.id)
                .where(OutboxMessage.idempotency_key.in_(keys), SendAttempt.outcome == "accepted")
            )
            .tuples()
            .all()
        )
    tolerance = timedelta(milliseconds=own.worker.late_tolerance_ms)
    assert slept == []
    assert _calls_per_key(loop.sms, keys) == [1] * count
    assert all(ensure_utc(slots[k]) <= sent_at[k] <= ensure_utc(slots[k]) + tolerance for k in keys)


def _reconciled(rt: Runtime, keys: list[str]) -> int:
    with rt.transaction() as session:
        return len(
            session.scalars(
                select(SendAttempt.id)
                .join(OutboxMessage, OutboxMessage.id == SendAttempt.message_id)
                .where(SendAttempt.outcome == "reconciled", OutboxMessage.idempotency_key.in_(keys))
            ).all()
        )


@PROPERTY
@given(answer_s=st.sampled_from([0.0, 0.2]), killed_after=st.integers(min_value=11, max_value=29))
def test_a_group_is_what_the_gateway_answers_within_a_quarter_second(
    rt: Runtime,
    make_loop: Callable[..., Loop],
    clock: FrozenClock,
    answer_s: float,
    killed_after: int,
) -> None:
    """Against a gateway answering at once, a killed worker's whole group (all but the first
    ten, sent before its pace was known) is in doubt; against one answering in 200 ms, a
    group is the two sends of 250 ms, so one or two are (each found at the gateway, none
    re-sent)."""
    loop = make_loop([], {})
    own = loop.worker.settings
    sized = own.worker.model_copy(update={"results_per_commit": 50, "group_seconds": 0.25})
    loop.worker.settings = own.model_copy(update={"worker": sized})
    keys = _queue(rt, 30)
    real = loop.sms.send

    def answered(message: OutboundMessage) -> SendResult:
        clock.advance(timedelta(seconds=answer_s))
        return real(message)

    loop.sms.send = answered  # type: ignore[method-assign]
    _kill_then_recover(loop, loop.sms, killed_after)
    assert _calls_per_key(loop.sms, keys) == [1] * 30
    assert _states(rt, keys) == ["sent"] * 30
    in_doubt = _reconciled(rt, keys)
    assert in_doubt == (killed_after - 10 if answer_s == 0 else 2 - (killed_after - 10) % 2)
