"""A text answering a dose reminder reaches medications through ``conversations.inbound``:
"1" is "taken" there (not a journey's CONFIRM), STOP is still STOP."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.channels.portal import InMemoryPortalInbox, PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.medications import adverse
from careloop.medications.reminders import send_due_reminders
from careloop.models import DoseConfirmation
from careloop.outreach.config import outreach_settings
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")
MORNING = datetime(2026, 3, 3, 8, 0, tzinfo=ZONE)


def _text(rt: Runtime, body: str, n: int) -> str:
    message = InboundMessage(
        channel=ChannelKind.SMS,
        sender="+15550100001",
        recipient="+15550009999",
        body=body,
        provider_id=f"SM-in-{n}",
        received_at=rt.clock.now(),
        keyword=parse_reply(body).keyword,
    )
    ctx = InboundContext(clock=rt.clock, programs={}, settings=outreach_settings(rt.settings)[0])
    with rt.transaction() as session:
        return handle_reply(session, ctx=ctx, message=message).handled_as


def _deliver(rt: Runtime) -> FakeChannel:
    """The worker sends what is queued through a fake SMS provider (the outside world)."""
    sms = FakeChannel(ChannelKind.SMS)
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: sms,
            ChannelKind.EMAIL: FakeChannel(ChannelKind.EMAIL),
            ChannelKind.VOICE: FakeChannel(ChannelKind.VOICE),
            ChannelKind.PORTAL: PortalChannel(inbox=InMemoryPortalInbox()),
        }
    )
    worker = build_worker(rt, worker_id="test-worker", channels=registry)
    worker.sleep = lambda _s: None  # type: ignore[method-assign]
    worker.run_once()
    return sms


def test_keypad_answers_to_a_reminder_are_dose_answers(rt: Runtime, clock: FrozenClock) -> None:
    clock.set(MORNING - timedelta(hours=3))
    make_patient(rt, patient_id="p-in")
    add_resources(rt, "p-in", medication("MedicationRequest", "mr-in", when=clock.now()))
    clock.set(MORNING)
    with rt.transaction() as session:
        assert send_due_reminders(session, now=MORNING, clock=rt.clock, settings=rt.settings).queued
    sms = _deliver(rt)
    assert "08:00 medicines" in sms.sent[0].message.body
    clock.set(MORNING + timedelta(minutes=4))
    assert _text(rt, "1", 1) == "medication-taken"
    clock.set(MORNING + timedelta(hours=12, minutes=3))
    assert _text(rt, "3 me da mareo", 2) == "medication-side-effect-ae"
    with rt.transaction() as session:
        answers = list(session.scalars(select(DoseConfirmation).order_by(DoseConfirmation.id)))
        cases = adverse.queue(session, now=rt.clock.now())
    assert [(a.answer, a.channel, a.local_minute) for a in answers] == [
        ("taken", "sms", 8 * 60 + 4),
        ("skipped", "sms", 20 * 60 + 3),
    ]
    assert len(cases) == 1
    assert _text(rt, "STOP", 3) == "opted-out"
