"""A simulated pilot: the real scheduler, outbox, worker and webhooks, with simulated patients.

Used by ``careloop demo``. Time runs on a frozen clock moved in steps, so weeks take seconds.
Messages leave through in-memory fake gateways (nothing reaches a real phone); each simulated
patient answers some channels and send windows more than others, replies through the same
inbound handler the Twilio webhook uses, and sometimes completes the call to action, which
is written to the record as the FHIR resource the program's completion criterion looks for.
Holdout patients get nothing and are followed for the outcome like everyone else.
Synthetic oncology patients on therapy answer the weekly symptom check-in question by question
(:mod:`careloop.compose.pilot_checkins`); one of them reports a fever.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.outreach import inbound_context, run_tick, tick_context
from careloop.compose.pilot_checkins import CheckinReport, CheckinResponder
from careloop.compose.worker import build_worker
from careloop.content.library import load_library
from careloop.content.service import approved_library, sync_library
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.events import EventKind, record_event
from careloop.models import OutboxMessage
from careloop.outreach.eligibility import Candidate, EligibilitySource
from careloop.outreach.program import OutreachProgram
from careloop.outreach.scheduler import program_map
from careloop.records.projection import keep_facts
from careloop.records.resources import store_resources
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

PILOT_PRINCIPAL = Principal(actor="system:pilot", role=Role.CLINICIAN, source="pilot")
CHANNEL_TASTE = {"sms": 0.45, "email": 0.2, "voice": 0.25, "portal": 0.15}


@dataclass
class SimulatedPatient:
    """Hidden tastes: how likely this person answers each channel, and completes after."""

    answer: dict[str, float]
    evening_person: bool
    completes: float


@dataclass
class PilotReport:
    weeks: int
    sent: Counter[str] = field(default_factory=Counter)
    replies: Counter[str] = field(default_factory=Counter)
    completions: int = 0
    ticks: int = 0
    checkins: CheckinReport = field(default_factory=CheckinReport)

    def as_dict(self) -> dict[str, Any]:
        return {
            "weeks": self.weeks,
            "sent_by_channel": dict(self.sent),
            "replies_by_channel": dict(self.replies),
            "completions_recorded": self.completions,
            "checkins": self.checkins.as_dict(),
        }


def _patient_model(patient_id: str, seed: int) -> SimulatedPatient:
    rng = random.Random(int(hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest(), 16))
    return SimulatedPatient(
        answer={c: min(0.95, base * rng.uniform(0.3, 2.2)) for c, base in CHANNEL_TASTE.items()},
        evening_person=rng.random() < 0.5,
        completes=rng.uniform(0.2, 0.7),
    )


def fake_gateways() -> tuple[ChannelRegistry, dict[str, FakeChannel]]:
    fakes = {
        "sms": FakeChannel(ChannelKind.SMS),
        "email": FakeChannel(ChannelKind.EMAIL),
        "voice": FakeChannel(ChannelKind.VOICE),
    }
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: fakes["sms"],
            ChannelKind.EMAIL: fakes["email"],
            ChannelKind.VOICE: fakes["voice"],
            ChannelKind.PORTAL: PortalChannel(inbox=InMemoryPortalInbox()),
        }
    )
    return registry, fakes


# The resource kinds a completion criterion may name: (status, code field, date field, the
# field naming the patient); an Immunization names its patient and vaccine in its own words.
_COMPLETION_SHAPE: dict[str, tuple[str, str, str, str]] = {
    "Procedure": ("completed", "code", "performedDateTime", "subject"),
    "Observation": ("final", "code", "effectiveDateTime", "subject"),
    "Immunization": ("completed", "vaccineCode", "occurrenceDateTime", "patient"),
}


def _completion_resource(program: Any, *, patient_id: str, when: datetime) -> dict[str, Any] | None:
    """A FHIR resource that meets the program's completion criterion (first listed kind)."""
    source = getattr(program, "source", None)
    if source is None:
        return None
    criteria = source.definition.completion.any_of
    valuesets: dict[str, Any] = {}
    library = getattr(source.library, "lib", None)
    while library is not None:  # the program's value sets, then the shared measure library's
        valuesets = {**library.valuesets, **valuesets}
        library = library.parent
    for criterion in criteria:
        names = criterion.get("valueset") or []
        names = [names] if isinstance(names, str) else list(names)
        codes = next((valuesets[n] for n in names if n in valuesets), None)
        rtype = criterion.get("resource")
        if not codes or rtype not in _COMPLETION_SHAPE:
            continue
        system, code = sorted(codes)[0]
        stamp = when.isoformat()
        concept = {"coding": [{"system": system, "code": code}]}
        resource_id = hashlib.sha256(f"{patient_id}:{program.name}".encode()).hexdigest()[:32]
        status, code_key, date_key, patient_key = _COMPLETION_SHAPE[rtype]
        return {
            "resourceType": rtype,
            "status": status,
            code_key: concept,
            date_key: stamp,
            "id": f"pilot-{resource_id}",
            patient_key: {"reference": f"Patient/{patient_id}"},
        }
    return None


@dataclass
class DailyIdentification:
    """Who is eligible, asked once per simulated day and program (as a nightly run would).

    The pilot ticks every few hours to honour send windows; re-running every program's care-gap
    logic on each of those ticks would find the same patients and cost most of the demo's time.
    """

    source: EligibilitySource
    asked: set[tuple[str, date]] = field(default_factory=set)

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        key = (program.name, now.date())
        if key in self.asked:
            return []
        self.asked.add(key)
        return self.source(session, program=program, now=now)


def run_pilot(
    rt: Runtime,
    *,
    weeks: int = 6,
    seed: int = 11,
    step_hours: int = 6,
    start: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PilotReport:
    """Run the outreach loop for ``weeks`` simulated weeks on the database of ``rt``.

    The weeks begin at ``start`` (default: the runtime's now); the demo starts them in the past
    so that they end today and the console, reports and programs show a finished pilot.
    ``progress(done, total)`` is called after every tick."""
    first = start if start is not None else rt.clock.now()
    clock = FrozenClock(first.replace(minute=0, second=0, microsecond=0))
    pilot_rt = Runtime(settings=rt.settings, clock=clock, engine=rt.engine, sessions=rt.sessions)
    with pilot_rt.transaction() as session:
        sync_library(session, library=load_library(), clock=clock)
        approved = approved_library(session)  # nothing approves or retires while it runs
    started = clock.now()
    registry, fakes = fake_gateways()
    checkins = CheckinResponder(pilot_rt, sms=fakes["sms"], seed=seed)
    ctx = tick_context(pilot_rt, seed=seed)
    ctx = replace(
        ctx,
        programs=CheckinResponder.by_sms(list(ctx.programs)),
        eligibility=DailyIdentification(ctx.eligibility),
        library=approved,
    )
    inbound = inbound_context(pilot_rt, programs=ctx.programs)
    programs = program_map(ctx.programs)
    worker = build_worker(pilot_rt, worker_id="demo-pilot", channels=registry)
    worker.sleep = lambda _seconds: None
    rng = random.Random(seed)
    report = PilotReport(weeks=weeks)
    seen = dict.fromkeys(fakes, 0)
    pending: list[tuple[datetime, str, OutboxMessage]] = []
    end = clock.now() + timedelta(weeks=weeks)
    total = -(-int((end - clock.now()).total_seconds()) // (step_hours * 3600))
    followed: date | None = None
    # The pilot and its check-ins are the only writers while it runs: facts are decoded once
    # and kept, a patient's dropped when a completion or an answer is written about them.
    facts = keep_facts()
    while clock.now() < end:
        # Outcomes (completions in the record, follow-up ends) once a simulated day, as a
        # nightly run would; journeys and sends on every tick, for the send windows.
        daily = clock.now().date() != followed
        followed = clock.now().date()
        run_tick(pilot_rt, ctx=replace(ctx, follow_outcomes=daily), shared_facts=facts)
        report.ticks += 1
        worker.run(once=True)
        while checkins.answer(inbound):  # each answer queues the next question
            worker.run(once=True)
        for channel, fake in fakes.items():
            fresh = fake.sent[seen[channel] :]
            seen[channel] = len(fake.sent)
            with pilot_rt.transaction() as session:
                for send in fresh:
                    row = session.scalars(
                        select(OutboxMessage).where(
                            OutboxMessage.idempotency_key == send.message.idempotency_key
                        )
                    ).first()
                    if row is None or row.program is None or checkins.owns(row.to_address):
                        continue
                    report.sent[channel] += 1
                    person = _patient_model(row.patient_id, seed)
                    chance = person.answer[channel]
                    if person.evening_person == (clock.now().hour >= 16):
                        chance = min(0.95, chance * 1.5)
                    if rng.random() < chance:
                        delay = timedelta(minutes=rng.randint(5, 36 * 60))
                        session.expunge(row)
                        pending.append((clock.now() + delay, channel, row))
        due = [p for p in pending if p[0] <= clock.now()]
        pending = [p for p in pending if p[0] > clock.now()]
        for when, channel, row in due:
            _answer(
                pilot_rt,
                inbound=inbound,
                channel=channel,
                row=row,
                when=when,
                rng=rng,
            )
            report.replies[channel] += 1
            person = _patient_model(row.patient_id, seed)
            program = programs.get(row.program or "")
            if program is not None and rng.random() < person.completes:
                resource = _completion_resource(program, patient_id=row.patient_id, when=when)
                if resource is not None:
                    with pilot_rt.transaction() as session:
                        store_resources(
                            session,
                            [resource],
                            clock=clock,
                            principal=PILOT_PRINCIPAL,
                            source="pilot",
                        )
                    report.completions += 1
        clock.advance(timedelta(hours=step_hours))
        if progress is not None:
            progress(report.ticks, total)
    report.checkins = checkins.finish(since=started)
    return report


def _answer(
    rt: Runtime,
    *,
    inbound: InboundContext,
    channel: str,
    row: OutboxMessage,
    when: datetime,
    rng: random.Random,
) -> None:
    """The simulated patient's answer, through the same handler as the real webhooks."""
    with rt.transaction() as session:
        if channel == "email":
            # Email has no reply path here: a click on the booking link is the engagement.
            record_event(
                session,
                kind=EventKind.CLICKED,
                clock=rt.clock,
                actor="patient",
                patient_id=row.patient_id,
                program=row.program,
                occurred_at=when,
                subject_type="outbox",
                subject_id=str(row.id),
            )
            return
        body = "1" if channel == "voice" else rng.choice(["Y", "Thanks, will book", "C"])
        keyword = Keyword.CONFIRM if body in ("Y", "C", "1") else Keyword.FREE_TEXT
        message = InboundMessage(
            channel=ChannelKind.VOICE if channel == "voice" else ChannelKind.SMS,
            sender=row.to_address,
            recipient=row.sender or "+15550009999",
            body=body,
            provider_id=f"SIM{row.id}-{int(when.timestamp())}",
            received_at=when,
            keyword=keyword,
            in_reply_to=row.provider_id,
        )
        handle_reply(session, ctx=inbound, message=message, keypad=channel == "voice")
