"""Fixtures for outreach tests: patients with contact points, the approved content library,
fake channels, and a scheduler/worker pair wired to them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from careloop.careteam.worklist import list_worklist
from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage, OutboundMessage, SendResult
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.content.library import load_library
from careloop.content.service import sync_library
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.conversations.journeys import run_tick
from careloop.models import Caregiver, FhirResource, Patient
from careloop.outreach.config import OutreachSettings
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.program import OutreachProgram, from_mapping
from careloop.outreach.scheduler import TickContext, TickReport, program_map
from careloop.outreach.worker import BatchReport, Worker
from careloop.personalize.service import set_stated_preferences
from careloop.records.contacts import index_contacts
from careloop.runtime import Runtime

_LIBRARY = load_library()


def make_patient(
    rt: Runtime,
    *,
    patient_id: str,
    phone: str | None = "+15550100001",
    email: str | None = None,
    timezone: str = "America/New_York",
    language: str | None = "en",
    gender: str = "female",
    caregiver: dict[str, Any] | None = None,
) -> None:
    points = []
    if phone:
        points.append({"system": "phone", "value": phone, "use": "mobile"})
    if email:
        points.append({"system": "email", "value": email})
    now = rt.clock.now()
    with rt.transaction() as session:
        session.add(
            Patient(
                id=patient_id,
                given_name="Rosa",
                family_name="Test",
                gender=gender,
                language=language,
                timezone=timezone,
                timezone_source="test",
                deceased=False,
                contact_points=points,
                created_at=now,
                updated_at=now,
            )
        )
        session.flush()
        index_contacts(session, patient_id=patient_id, points=points)
        if caregiver is not None:
            session.add(
                Caregiver(
                    id=f"{patient_id}-cg",
                    patient_id=patient_id,
                    name="Sam",
                    relationship="spouse",
                    language=caregiver.get("language"),
                    contact_points=[
                        {"system": "phone", "value": caregiver["phone"], "use": "mobile"}
                    ],
                    availability=caregiver.get("availability", []),
                    is_proxy=False,
                    updated_at=now,
                )
            )
            session.flush()
            index_contacts(
                session,
                patient_id=patient_id,
                caregiver_id=f"{patient_id}-cg",
                points=[{"system": "phone", "value": caregiver["phone"], "use": "mobile"}],
            )


def make_awake_patient(rt: Runtime, *, patient_id: str, phone: str) -> None:
    """A patient with no quiet hours: real time, any hour, else a worker would hold the texts
    till morning."""
    make_patient(rt, patient_id=patient_id, phone=phone)
    with rt.transaction() as session:
        set_stated_preferences(
            session,
            clock=rt.clock,
            patient_id=patient_id,
            changes={"quiet_hours": "00-00"},
            actor="t",
        )


def add_procedure(rt: Runtime, *, patient_id: str, code: str, when: datetime) -> None:
    with rt.transaction() as session:
        session.add(
            FhirResource(
                resource_type="Procedure",
                fhir_id=f"proc-{patient_id}-{code}",
                patient_id=patient_id,
                status="completed",
                effective_start=when,
                codes=f"http://snomed.info/sct|{code}",  # as records.store writes them
                supported=True,
                resource={
                    "resourceType": "Procedure",
                    "id": f"proc-{patient_id}-{code}",
                    "status": "completed",
                    "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]},
                    "performedDateTime": when.isoformat(),
                },
                imported_at=when,
            )
        )


def sync_content(rt: Runtime) -> None:
    with rt.transaction() as session:
        sync_library(session, library=_LIBRARY, clock=rt.clock)


SCREENING = {
    "name": "screening-test",
    "title": "Screening",
    "purpose": "care-reminders",
    "holdout": 0.0,
    "follow_days": 60,
    "completion": {"codes": ["http://snomed.info/sct|71651007"]},
    "escalation": {"after_unanswered": 2, "wait": "3d"},
    "steps": [
        {"id": "invite", "message": "mammogram_due", "wait": {"after": "enrollment"}},
        {
            "id": "reminder",
            "message": "mammogram_due",
            "wait": {"after": "previous", "days": 7},
            "when": "no-reply",
        },
    ],
}
APPOINTMENTS = {
    "name": "appointments-test",
    "title": "Appointment reminders",
    "purpose": "care-reminders",
    "anchor": "appointment",
    "holdout": 0.0,
    "follow_days": 1,
    "completion": {"confirm": True},
    "caregiver_reminders": True,
    "steps": [
        {
            "id": "remind-3d",
            "message": "appointment_reminder_3d",
            "wait": {"before": "appointment", "days": 3},
        },
        {
            "id": "remind-1d",
            "message": "appointment_reminder_1d",
            "wait": {"before": "appointment", "days": 1},
            "when": "no-reply",
        },
    ],
}


def program(doc: dict[str, Any], **changes: Any) -> OutreachProgram:
    return from_mapping({**doc, **changes})


@dataclass
class Loop:
    """A scheduler and a worker over fake channels, sharing the test's frozen clock."""

    rt: Runtime
    clock: FrozenClock
    ctx: TickContext
    worker: Worker
    sms: FakeChannel
    email: FakeChannel
    voice: FakeChannel
    inbox: InMemoryPortalInbox

    def tick(self) -> TickReport:
        with self.rt.transaction() as session:
            return run_tick(session, ctx=self.ctx, now=self.clock.now())

    def work(self) -> BatchReport:
        return self.worker.run(once=True)

    def advance(self, delta: timedelta) -> None:
        self.clock.advance(delta)

    def inbound(self) -> InboundContext:
        return InboundContext(
            clock=self.clock, programs=program_map(self.ctx.programs), settings=self.ctx.settings
        )

    def tasks(self) -> list[tuple[str, str]]:
        """(rule, title) of the open items on the care team's worklist."""
        with self.rt.transaction() as session:
            return [(e.rule_id, e.title) for e in list_worklist(session, now=self.clock.now())]


class WorkerKilled(BaseException):
    """The worker process dying (SIGKILL) between a provider call and its record."""


@contextlib.contextmanager
def dies_after_sends(channel: FakeChannel, sends: int) -> Iterator[None]:
    """The provider accepts ``sends`` more messages; right after the last, the worker dies."""
    real = channel.send
    left = [sends]

    def send(message: OutboundMessage) -> SendResult:
        result = real(message)
        left[0] -= 1
        if left[0] == 0:
            raise WorkerKilled
        return result

    channel.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        channel.send = real  # type: ignore[method-assign]


def fake_registry() -> tuple[
    ChannelRegistry, FakeChannel, FakeChannel, FakeChannel, InMemoryPortalInbox
]:
    sms = FakeChannel(ChannelKind.SMS)
    email = FakeChannel(ChannelKind.EMAIL)
    voice = FakeChannel(ChannelKind.VOICE)
    inbox = InMemoryPortalInbox()
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: sms,
            ChannelKind.EMAIL: email,
            ChannelKind.VOICE: voice,
            ChannelKind.PORTAL: PortalChannel(inbox=inbox),
        }
    )
    return registry, sms, email, voice, inbox


@pytest.fixture
def make_loop(rt: Runtime, clock: FrozenClock) -> Callable[..., Loop]:
    synced: list[bool] = []

    def build(programs: list[OutreachProgram], candidates: dict[str, list[Candidate]]) -> Loop:
        if not synced:
            sync_content(rt)
            synced.append(True)
        registry, sms, email, voice, inbox = fake_registry()
        ctx = TickContext(
            clock=clock,
            programs=programs,
            eligibility=ExplicitEligibility(candidates),
            settings=OutreachSettings(),
            seed=7,
        )
        worker = build_worker(rt, worker_id="test-worker", channels=registry)
        worker.sleep = lambda _s: None
        return Loop(rt, clock, ctx, worker, sms, email, voice, inbox)

    return build


def reply(loop: Loop, *, sender: str, body: str, keyword: Keyword, sid: str) -> None:
    """An SMS reply from ``sender``, handled as the webhook would."""
    with loop.rt.transaction() as session:
        handle_reply(
            session,
            ctx=loop.inbound(),
            message=InboundMessage(
                channel=ChannelKind.SMS,
                sender=sender,
                recipient="+15550009999",
                body=body,
                provider_id=sid,
                received_at=loop.clock.now(),
                keyword=keyword,
            ),
        )


@contextlib.contextmanager
def sql_statements(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` sends inside the block, whitespace folded."""
    seen: list[str] = []

    def _log(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", _log)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _log)


def queue_due_texts(
    rt: Runtime, *, patient_id: str, phone: str, key: str, senders: list[str], count: int
) -> None:
    """``count`` texts due now to one awake patient, the senders taken in turn (round robin:
    every sender's oldest message is as old as any other's)."""
    make_awake_patient(rt, patient_id=patient_id, phone=phone)
    now = rt.clock.now()
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"{key}-{i}",
                    patient_id=patient_id,
                    purpose="care-reminders",
                    channel="sms",
                    to_address=phone,
                    sender=senders[i % len(senders)],
                    body=f"Reminder {i}",
                    due_at=now - timedelta(seconds=1),
                )
                for i in range(count)
            ],
            now=now,
        )
