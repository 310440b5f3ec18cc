"""The contact budget and the dispatch guarantees, as properties over what the gateways saw.

Several programs (and staff sends through the engine) queue messages for the same patients
on every channel, due at any hour, some of them on top of each other; the worker (two at
once on PostgreSQL) sends them while time passes. Whatever was queued, the gateways never
see a patient contacted past the budget in any 24 hours or 7 days, an opted-out patient
contacted, a message inside the patient's quiet hours, or one message twice.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from tests.outreach.conftest import (
    SCREENING,
    Loop,
    make_patient,
    program,
    sql_statements,
)

from careloop.channels.fake import FakeChannel
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import Clock, FrozenClock
from careloop.compose.worker import build_worker
from careloop.governance.consent import ConsentChannel, opt_out_channel
from careloop.models import DecisionRow, OutboxMessage
from careloop.outreach.budget import admit
from careloop.outreach.config import BudgetSettings, OutreachSettings
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.personalize.constraints import ContactBudget, budget_allows
from careloop.personalize.profile import QuietHours
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime

BUDGET = BudgetSettings(per_day=1, per_week=2)
CHANNELS = ("sms", "email", "voice", "portal")
ZONES = ("America/New_York", "America/Los_Angeles", "Pacific/Honolulu", "Europe/Madrid")
QUIET = ("21-08", "20-09", "22-07", "12-14")


def _windows_hold(times: list[datetime], budget: BudgetSettings) -> bool:
    """Brute force: every 24 h and 7 d window starting at a contact holds at most its limit."""
    for start in times:
        day = sum(1 for t in times if start <= t < start + timedelta(days=1))
        week = sum(1 for t in times if start <= t < start + timedelta(days=7))
        if day > budget.per_day or week > budget.per_week:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(
    offsets=st.lists(st.integers(min_value=0, max_value=20 * 24 * 60), max_size=12),
    per_day=st.integers(min_value=0, max_value=3),
    per_week=st.integers(min_value=0, max_value=5),
    candidate=st.integers(min_value=0, max_value=20 * 24 * 60),
)
def test_budget_allows_exactly_what_keeps_every_window_within_its_limit(
    offsets: list[int], per_day: int, per_week: int, candidate: int
) -> None:
    base = datetime(2026, 3, 1, tzinfo=ZoneInfo("UTC"))
    budget = ContactBudget(per_day=per_day, per_week=per_week)
    limits = BudgetSettings(per_day=per_day, per_week=per_week)
    admitted: list[datetime] = []
    for minute in offsets:  # greedy admission, as the worker does, never breaks a window
        moment = base + timedelta(minutes=minute)
        if budget_allows(admitted, at=moment, budget=budget):
            admitted.append(moment)
    assert _windows_hold(sorted(admitted), limits)
    # Exact: refused only when adding it would really break a window.
    at = base + timedelta(minutes=candidate)
    assert budget_allows(admitted, at=at, budget=budget) == _windows_hold(
        sorted([*admitted, at]), limits
    )


@dataclass
class Delivery:
    at: datetime
    message: OutboundMessage


class RecordingChannel(FakeChannel):
    """The fake gateway, noting the (frozen) time each message reached it; never dedupes."""

    def __init__(self, kind: ChannelKind, clock: Clock, log: list[Delivery]) -> None:
        super().__init__(kind)
        self._clock = clock
        self._log = log
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        with self._lock:
            self._log.append(Delivery(self._clock.now(), message))
        return super().send(message)


class RecordingPortal(PortalChannel):
    def __init__(self, clock: Clock, log: list[Delivery]) -> None:
        super().__init__(inbox=InMemoryPortalInbox())
        self._clock = clock
        self._log = log

    def send(self, message: OutboundMessage) -> SendResult:
        self._log.append(Delivery(self._clock.now(), message))
        return super().send(message)


@dataclass(frozen=True)
class Person:
    pid: str
    zone: str
    quiet: str
    opted_out: bool
    phone: str
    email: str


people = st.builds(
    lambda zone, quiet, opted_out: (zone, quiet, opted_out),
    st.sampled_from(ZONES),
    st.sampled_from(QUIET),
    st.booleans(),
)
queued = st.tuples(
    st.integers(min_value=0, max_value=3),  # which patient (modulo how many there are)
    st.sampled_from(CHANNELS),
    st.sampled_from(["screening", "appointments", "staff"]),  # the program that decided
    st.integers(min_value=0, max_value=6 * 24 * 60),  # due, minutes from now (any hour)
)


def _people(rt: Runtime, drawn: list[tuple[str, str, bool]]) -> list[Person]:
    out = []
    for zone, quiet, opted_out in drawn:
        pid = f"b-{uuid.uuid4().hex[:10]}"
        phone = f"+1555{uuid.uuid4().int % 10**7:07d}"
        email = f"{pid}@example.org"
        make_patient(rt, patient_id=pid, phone=phone, email=email, timezone=zone)
        with rt.transaction() as session:
            set_stated_preferences(
                session, clock=rt.clock, patient_id=pid, changes={"quiet_hours": quiet}, actor="t"
            )
        out.append(Person(pid, zone, quiet, opted_out, phone, email))
    return out


def _address(person: Person, channel: str) -> str:
    return {"sms": person.phone, "voice": person.phone, "email": person.email}.get(
        channel, person.pid
    )


def run_workers(
    rt: Runtime,
    registry: ChannelRegistry,
    *,
    workers: int,
    budget: BudgetSettings = BUDGET,
    prefix: str = "budget",
) -> None:
    """``workers`` workers under ``budget``, each once: in threads when more than one."""
    built = []
    for n in range(workers):
        worker = build_worker(rt, worker_id=f"{prefix}-{n}", channels=registry)
        worker.settings = OutreachSettings(budget=budget)
        worker.sleep = lambda _s: None
        built.append(worker)
    if workers == 1:
        built[0].run(once=True)
        return
    threads = [threading.Thread(target=w.run, kwargs={"once": True}) for w in built]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    drawn=st.lists(people, min_size=1, max_size=3),
    messages=st.lists(queued, min_size=1, max_size=14),
    steps=st.lists(st.integers(min_value=60, max_value=8 * 60), min_size=30, max_size=30),
)
def test_gateways_never_see_the_budget_broken_an_opt_out_contacted_a_quiet_hour_or_a_repeat(
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
    persons = _people(rt, drawn)
    now = clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"{source}:{uuid.uuid4().hex}",
                    patient_id=persons[who % len(persons)].pid,
                    purpose="care-reminders",
                    channel=channel,
                    to_address=_address(persons[who % len(persons)], channel),
                    body="Your screening is due.",
                    subject="Reminder" if channel in ("email", "portal") else None,
                    program=None if source == "staff" else source,
                    due_at=now + timedelta(minutes=minutes),
                    extra={"staff": True} if source == "staff" else {},
                )
                for who, channel, source, minutes in messages
            ],
            now=now,
        )
        for person in persons:
            if person.opted_out:  # consent only: the worker's own re-check must hold them
                for channel in ConsentChannel:
                    opt_out_channel(
                        session,
                        patient_id=person.pid,
                        channel=str(channel),
                        source="form",
                        actor="test",
                        now=now,
                    )
    workers = 2 if rt.engine.dialect.name == "postgresql" else 1
    for minutes in steps:  # 1-10 days of a worker waking at irregular times
        clock.advance(timedelta(minutes=minutes))
        run_workers(rt, registry, workers=workers)

    by_address = {_address(p, c): p for p in persons for c in CHANNELS}
    seen = [d for d in log if d.message.to in by_address]
    keys = Counter(d.message.idempotency_key for d in seen)
    assert [k for k, n in keys.items() if n > 1] == []
    elapsed = sum(steps)
    for n, person in enumerate(persons):
        mine = sorted(d.at for d in seen if by_address[d.message.to] == person)
        assert not (person.opted_out and mine)
        due = [m for who, _c, _s, m in messages if who % len(persons) == n]
        # Not vacuous: a patient who may be contacted, with a message due a day before the
        # end, was contacted (the first contact always fits; quiet hours end within a day).
        if not person.opted_out and due and min(due) <= elapsed - 24 * 60:
            assert mine
        assert _windows_hold(mine, BUDGET)
        quiet = QuietHours.parse(person.quiet)
        for at in mine:
            local = at.astimezone(ZoneInfo(person.zone))
            assert not quiet.contains(local.hour * 60 + local.minute)


def test_the_higher_priority_program_gets_the_last_contact(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    pid = f"prio-{uuid.uuid4().hex[:8]}"
    make_patient(rt, patient_id=pid, phone="+15550100077")
    minor = program(SCREENING, name="minor", priority=0, actions={"channels": ["sms"]})
    major = program(SCREENING, name="major", priority=5, actions={"channels": ["sms"]})
    loop = make_loop([minor, major], {})
    loop.ctx = _budgeted(loop, {"minor": [Candidate(pid, "2026")], "major": [Candidate(pid, "x")]})
    loop.tick()

    with rt.transaction() as session:
        queued = session.scalars(
            select(OutboxMessage.program).where(OutboxMessage.patient_id == pid)
        ).all()
        held = session.scalars(
            select(DecisionRow).where(DecisionRow.patient_id == pid, DecisionRow.send_at.is_(None))
        ).all()
    assert set(queued) == {"major"}
    assert [h.program for h in held] == ["minor"]
    assert "contact_budget" in str(held[0].removals)


def _budgeted(loop: Loop, candidates: dict[str, list[Candidate]]):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(
        loop.ctx,
        eligibility=ExplicitEligibility(candidates),
        settings=OutreachSettings(budget=BudgetSettings(per_day=1, per_week=3)),
    )


def test_a_contact_scheduled_for_tomorrow_counts_today(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """A reminder already queued for tomorrow holds back a second program's message that
    would land within the same 24 hours (the engine alone only counted past contacts)."""
    pid = f"sched-{uuid.uuid4().hex[:8]}"
    make_patient(rt, patient_id=pid, phone="+15550100078")
    loop = make_loop([program(SCREENING, actions={"channels": ["sms"]})], {})
    loop.ctx = _budgeted(loop, {"screening-test": [Candidate(pid, "2026")]})
    now = loop.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"other:{pid}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100078",
                    body="An appointment reminder.",
                    program="appointments",
                    due_at=now + timedelta(hours=5),
                )
            ],
            now=now,
        )
    report = loop.tick()
    assert (report.queued, report.blocked) == (0, 1)


def test_dispatch_admits_within_the_budget_and_marks_only_what_it_admitted(rt: Runtime) -> None:
    """Admission at dispatch: a patient whose week is spent is refused and their message
    keeps no contact time (it never went), the others are admitted with the moment they
    are contacted; on PostgreSQL the count and the mark are one statement after the lock."""
    budget = ContactBudget(per_day=1, per_week=1)
    now = rt.clock.now()
    make_patient(rt, patient_id="adm-spent", phone="+15550100091")
    make_patient(rt, patient_id="adm-free", phone="+15550100092")
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"adm:{key}",
                    patient_id=pid,
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+15550100091",
                    body=f"Message {key}.",
                    due_at=now,
                )
                for key, pid in (("old", "adm-spent"), ("spent", "adm-spent"), ("free", "adm-free"))
            ],
            now=now,
        )
        rows = {
            m.idempotency_key: m
            for m in session.scalars(
                select(OutboxMessage).where(OutboxMessage.patient_id.like("adm-%"))
            )
        }
        rows["adm:old"].state = "sent"
        rows["adm:old"].contact_at = now - timedelta(days=2)
        ids = {key: rows[key].id for key in rows}
    with rt.transaction() as session, sql_statements(rt.engine) as seen:
        refused = admit(
            session,
            messages=[
                (ids["adm:spent"], "adm-spent", "patient", {}),
                (ids["adm:free"], "adm-free", "patient", {}),
            ],
            now=now,
            budget=budget,
        ).refused
        statements = list(seen)
    assert refused == {ids["adm:spent"]}
    with rt.transaction() as session:
        contact = dict(
            session.execute(
                select(OutboxMessage.idempotency_key, OutboxMessage.contact_at).where(
                    OutboxMessage.id.in_(list(ids.values()))
                )
            )
            .tuples()
            .all()
        )
    assert contact["adm:free"] == now
    assert contact["adm:spent"] is None
    if rt.engine.dialect.name == "postgresql":
        # The patients' locks, then the count with the mark; the refusal's own correction.
        assert len(statements) == 3, statements
        assert statements[1].startswith("WITH marked AS (UPDATE outreach_outbox")
