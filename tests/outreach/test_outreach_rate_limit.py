"""Per-sender rate limits hold exactly with two workers sending at once (PostgreSQL)."""

from __future__ import annotations

import threading
import time
import uuid
from bisect import bisect_left
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy import select
from tests.outreach.conftest import make_awake_patient

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import SystemClock
from careloop.compose.worker import build_worker
from careloop.models import OutboxMessage, SendAttempt
from careloop.outreach.config import BudgetSettings, OutreachSettings, WorkerSettings
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.ratelimit import reserve_many
from careloop.runtime import Runtime

SENDER = "+15550000001"
RATE = 8.0
COUNT = 24


class TimedChannel(FakeChannel):
    """A fake SMS provider that notes when each send reached it."""

    def __init__(self) -> None:
        super().__init__(ChannelKind.SMS)
        self.times: list[float] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.times.append(time.monotonic())
        return super().send(message)


def test_two_workers_never_exceed_the_sender_rate(rt: Runtime) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("concurrent workers need PostgreSQL (SQLite runs one in-process worker)")
    live = Runtime(
        settings=rt.settings, clock=SystemClock(), engine=rt.engine, sessions=rt.sessions
    )
    make_awake_patient(live, patient_id="prl", phone="+15550100099")
    now = live.clock.now()
    with live.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"rl-{i}",
                    patient_id="prl",
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100099",
                    sender=SENDER,
                    body="Reminder",
                    due_at=now - timedelta(seconds=1),
                )
                for i in range(COUNT)
            ],
            now=now,
        )
    sms = TimedChannel()
    registry = ChannelRegistry(
        {ChannelKind.SMS: sms, ChannelKind.PORTAL: PortalChannel(inbox=InMemoryPortalInbox())}
    )
    settings = OutreachSettings(
        sender_rates={f"sms:{SENDER}": RATE},
        worker=WorkerSettings(batch=5, poll_seconds=0.05),
        # Pacing is the point here, not the one patient's contact budget.
        budget=BudgetSettings(per_day=COUNT, per_week=COUNT, min_gap_hours=0),
    )
    workers = []
    for name in ("w1", "w2"):
        worker = build_worker(live, worker_id=name, channels=registry)
        worker.settings = settings
        workers.append(worker)

    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    with live.transaction() as session:
        states = session.scalars(select(OutboxMessage.state)).all()
        slots = sorted(
            s for s in session.scalars(select(SendAttempt.slot_at)).all() if s is not None
        )
    times = sorted(sms.times)
    # 5 % of a second allowed for thread wake-up jitter on a loaded machine; the reserved
    # slots themselves (checked above) are spaced exactly.
    busiest = max(sum(1 for t in times if start <= t < start + 0.95) for start in times)
    gaps = [(b - a).total_seconds() for a, b in pairwise(slots)]
    assert sorted(states) == ["sent"] * COUNT
    assert sms.duplicates() == {}
    assert min(gaps) >= 1 / RATE - 1e-6
    assert busiest <= RATE


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    requests=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=400),  # when the reservation is made (ms)
            st.lists(st.integers(min_value=0, max_value=300), min_size=1, max_size=6),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_slots_placed_at_a_workers_own_pace_are_never_closer_than_the_interval(
    rt: Runtime, requests: list[tuple[int, list[int]]]
) -> None:
    """Groups re-slotted at the worker's time per send (``not_before``) by several workers
    in turn: one sender's slots, all reservations together, stay an interval apart."""
    interval = timedelta(milliseconds=125)
    start = rt.clock.now()
    key = f"sms:{uuid.uuid4().hex[:8]}"
    slots = []
    for at_ms, offsets in sorted(requests):
        now = start + timedelta(milliseconds=at_ms)
        earliest = sorted(now + timedelta(milliseconds=o) for o in offsets)
        with rt.transaction() as session:
            got = reserve_many(
                session,
                wanted={key: (len(offsets), interval)},
                now=now,
                horizon=timedelta(seconds=30),
                not_before={key: earliest},
            )[key]
        assert len(got.slots) == len(offsets)
        assert all(slot >= not_before for slot, not_before in zip(got.slots, earliest, strict=True))
        slots.extend(got.slots)
    assert all(b - a >= interval for a, b in pairwise(sorted(slots)))


def test_a_late_tolerance_wider_than_the_pace_margin_allows_is_refused_naming_the_field() -> None:
    """Sends up to the tolerance late could put a sender over its limit in some second."""
    assert WorkerSettings(pace_margin=0.3, late_tolerance_ms=400).late_tolerance_ms == 400
    with pytest.raises(ValidationError, match=r"late_tolerance_ms must be under 52\.6"):
        WorkerSettings(late_tolerance_ms=60)
    with pytest.raises(ValidationError, match=r"late_tolerance_ms must be under 428\.6"):
        WorkerSettings(pace_margin=0.3, late_tolerance_ms=430)


@settings(max_examples=300, deadline=None)
@given(
    margin=st.floats(min_value=0.01, max_value=0.45),
    rate=st.integers(min_value=1, max_value=60),
    behind=st.integers(min_value=0, max_value=40),
    lateness=st.lists(st.floats(min_value=0.0, max_value=1.0), max_size=150),
)
def test_sends_within_the_widest_allowed_tolerance_keep_every_second_under_the_rate(
    margin: float, rate: int, behind: int, lateness: list[float]
) -> None:
    """Slots an interval apart (as the worker spaces them), the first ``behind`` sends the
    whole tolerance late (the worst case: a descheduled worker catching up), the others
    anywhere within it: no 1-second window holds more sends than the sender's rate."""
    widest = 0.9999 * 1000 * margin / (1 - margin)
    own = WorkerSettings(pace_margin=margin, late_tolerance_ms=widest)
    interval = 1.0 / (rate * (1 - own.pace_margin))
    tolerance = own.late_tolerance_ms / 1000
    late = [1.0] * behind + lateness
    sends = sorted(i * interval + part * tolerance for i, part in enumerate(late))
    busiest = max((bisect_left(sends, at + 1.0) - i for i, at in enumerate(sends)), default=0)
    assert busiest <= rate
