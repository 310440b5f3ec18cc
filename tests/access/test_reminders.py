"""Reminders that follow the booking, on both databases, through the shipped appointment journey,
the scheduler, the outbox worker and the reply router: what the patient and the caregiver
receive for a visit the wife drives to, a video visit and a visit by ride; when a high-risk
booking is offered other times early, a reply (English or Spanish) moves it and the old
visit's reminders stop."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.service import find_offers
from careloop.channels.fake import FakeChannel
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.conversations.journeys import run_tick
from careloop.governance.consent import opt_out_channel
from careloop.models import AccessBooking, Enrollment, FhirResource, OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.outreach.eligibility import AppointmentEligibility, ExplicitEligibility
from careloop.outreach.program import OutreachProgram, from_mapping
from careloop.outreach.scheduler import TickContext
from careloop.personalize.profile import QuietHours
from careloop.personalize.service import set_stated_preferences
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import (
    caregiver,
    import_resources,
    location,
    patient,
    schedule,
    slot,
    transport_screen,
)
from tests.outreach.conftest import fake_registry, sync_content

PHONE = "+15550109001"  # patient("p-001")'s mobile
WIFE_PHONE = "+15550108101"  # caregiver("p-001", "cg-101")'s
JOURNEY = Path(__file__).parents[2] / "src/careloop/outreach/journeys/appointment-reminders.yaml"
NEW_YORK = ZoneInfo("America/New_York")


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _journey() -> OutreachProgram:
    """The shipped appointment journey, without its holdout (every test patient is reached)."""
    return from_mapping({**yaml.safe_load(JOURNEY.read_text()), "holdout": 0.0})


@dataclass
class Visit:
    rt: Runtime
    clock: FrozenClock
    high_risk: bool = False
    registry: Any = field(init=False)
    sms: FakeChannel = field(init=False)

    def __post_init__(self) -> None:
        self.registry, self.sms, *_ = fake_registry()

    def context(self) -> TickContext:
        eligibility: Any = AppointmentEligibility()
        if self.high_risk:  # the band the no-show model would give this booking
            with self.rt.transaction() as session:
                found = list(eligibility(session, program=_journey(), now=self.clock.now()))
            marked = [replace(c, fields={**c.fields, "noshow_risk_band": "high"}) for c in found]
            eligibility = ExplicitEligibility({_journey().name: marked})
        return TickContext(
            clock=self.clock,
            programs=[_journey()],
            eligibility=eligibility,
            settings=OutreachSettings(),
            seed=7,
            app_settings=self.rt.settings,
        )

    def tick(self, ctx: TickContext | None = None) -> None:
        with self.rt.transaction() as session:
            run_tick(session, ctx=ctx or self.context(), now=self.clock.now())

    def next_step_at(self) -> datetime | None:
        with self.rt.transaction() as session:
            dues = session.scalars(
                select(Enrollment.step_due_at).where(
                    Enrollment.step_due_at.is_not(None), Enrollment.state != "closed"
                )
            ).all()
        return min(dues, default=None)

    def deliver(self, *, until: datetime) -> None:
        """Run the worker at each queued message's due time up to ``until``."""
        while True:
            with self.rt.transaction() as session:
                due = session.scalar(
                    select(OutboxMessage.due_at)
                    .where(OutboxMessage.state == "queued", OutboxMessage.due_at <= until)
                    .order_by(OutboxMessage.due_at)
                    .limit(1)
                )
            if due is None:
                return
            self.clock.set(max(self.clock.now(), due))
            worker = build_worker(self.rt, worker_id="reminder-worker", channels=self.registry)
            worker.sleep = lambda _s: None
            worker.run(once=True)

    def run_journey(self, *, until: datetime, ctx: TickContext | None = None) -> None:
        """Tick at every step's due time and deliver what it queued, up to ``until``."""
        self.tick(ctx)
        for _ in range(30):
            at = self.next_step_at()
            if at is None or at > until:
                break
            self.deliver(until=at)
            self.clock.set(max(self.clock.now(), at))
            self.tick(ctx)
        self.deliver(until=until)

    def reply(self, body: str, sid: str) -> str:
        self.clock.advance(timedelta(minutes=5))
        parsed = parse_reply(body)
        ctx = InboundContext(
            clock=self.clock,
            programs={},
            settings=OutreachSettings(),
            app_settings=self.rt.settings,
        )
        with self.rt.transaction() as session:
            outcome = handle_reply(
                session,
                ctx=ctx,
                message=InboundMessage(
                    channel=ChannelKind.SMS,
                    sender=PHONE,
                    recipient="+15550009999",
                    body=body,
                    provider_id=sid,
                    received_at=self.clock.now(),
                    keyword=parsed.keyword,
                    number=parsed.number,
                ),
            )
        return outcome.handled_as

    def received(self, to: str) -> list[tuple[str, str]]:
        """(content message, body) of every text sent to ``to``, in order."""
        with self.rt.transaction() as session:
            rows = session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.to_address == to, OutboxMessage.state.in_(["sent"]))
                .order_by(OutboxMessage.due_at, OutboxMessage.id)
            ).all()
            return [(r.content_message or "", r.body) for r in rows]


def _seed(
    rt: Runtime,
    clock: FrozenClock,
    tmp_path: Path,
    *resources: dict[str, Any],
    language: str = "en",
    video: bool = False,
) -> Visit:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001", language=language),
            location(),
            schedule("sch-1", virtual=video),
            *resources,
        ],
    )
    sync_content(rt)
    with rt.transaction() as session:
        for other in ("voice", "email", "portal"):  # texts only: what the patient receives
            opt_out_channel(
                session,
                patient_id="p-001",
                channel=other,
                source="staff",
                actor="user:coordinator",
                now=clock.now(),
            )
    return Visit(rt, clock)


def _book(rt: Runtime, clock: FrozenClock, slot_id: str) -> AccessBooking:
    with rt.transaction() as session:
        [offer] = [
            o
            for o in find_offers(session, patient_id="p-001", now=clock.now())
            if o.slot == slot_id
        ]
        booked = bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=clock,
            principal=CLI_OPERATOR,
            channel="portal",
        )
        session.expunge(booked)
        return booked


def test_the_reminder_comes_in_the_patients_window_and_the_wife_who_drives_gets_her_copy(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit = _seed(
        rt,
        clock,
        tmp_path,
        caregiver("p-001", "cg-101"),  # weekdays 15:30-20:00: she drives him
        caregiver("p-001", "cg-102", relationship="son", accompanies=False),
        slot("s-thu", schedule_id="sch-1", start=_utc(5, 22)),  # Thu 5:00 PM in New York
    )
    with rt.transaction() as session:
        set_stated_preferences(
            session,
            clock=clock,
            patient_id="p-001",
            changes={"send_window": "11-14", "quiet_hours": "14-11"},  # free 11:00-14:00
            actor="patient",
        )
    _book(rt, clock, "s-thu")

    visit.run_journey(until=_utc(5, 21))

    to_patient = visit.received(PHONE)
    assert [m for m, _ in to_patient] == ["appointment_reminder_3d", "appointment_reminder_1d"]
    assert all("5:00 PM" in body and "Main clinic" in body for _, body in to_patient[1:])
    with rt.transaction() as session:
        sends = session.scalars(
            select(OutboxMessage.due_at).where(OutboxMessage.to_address == PHONE)
        ).all()
    quiet = QuietHours.parse("14-11")
    for at in sends:  # the stated window (11:00-14:00 in New York), never in quiet hours
        local = at.astimezone(NEW_YORK)
        assert 11 <= local.hour < 14
        assert not quiet.contains(local.hour * 60 + local.minute)
    to_wife = visit.received(WIFE_PHONE)
    assert [m for m, _ in to_wife] == ["caregiver_visit_reminder"] * len(to_patient)
    assert "Reminder: Pat has a visit on Thursday at 5:00 PM" in to_wife[0][1]
    with rt.transaction() as session:
        copies = session.scalars(
            select(OutboxMessage.due_at).where(OutboxMessage.to_address == WIFE_PHONE)
        ).all()
    for at in copies:  # inside her own window (weekdays 15:30-20:00)
        local = at.astimezone(NEW_YORK)
        assert (15, 30) <= (local.hour, local.minute) < (20, 0)
    assert all("Main clinic" not in body and "Test" not in body for _, body in to_wife)
    assert visit.received("+15550108102") == []  # the son does not come along


def test_a_video_visit_reminder_carries_the_link_and_no_caregiver_is_copied(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit = _seed(
        rt,
        clock,
        tmp_path,
        caregiver("p-001", "cg-101"),
        slot("s-video", schedule_id="sch-1", start=_utc(5, 22)),
        video=True,
    )
    booked = _book(rt, clock, "s-video")
    assert booked.mode == "telehealth"

    visit.run_journey(until=_utc(5, 21))

    [(first, text), *_] = visit.received(PHONE)
    assert first == "appointment_reminder_video"
    assert "Your video visit is Thursday at 5:00 PM" in text
    assert f"Join here: http://127.0.0.1:8000/portal/video/{booked.id}" in text
    assert [m for m, _ in visit.received(WIFE_PHONE)] == []


def test_a_visit_by_ride_says_when_and_by_whom_the_patient_is_picked_up(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit = _seed(
        rt,
        clock,
        tmp_path,
        transport_screen("p-001", when=_utc(1, 12) - timedelta(days=20)),
        slot("s-thu", schedule_id="sch-1", start=_utc(5, 22)),
    )
    booked = _book(rt, clock, "s-thu")
    assert booked.ride is True
    with rt.transaction() as session:
        appointment = session.get(FhirResource, ("Appointment", booked.id))
        assert appointment is not None
        [pickup] = [
            e["valueDateTime"]
            for e in appointment.resource["extension"]
            if e["url"] == "https://careloop.dev/fhir/StructureDefinition/ride-pickup"
        ]
        assert datetime.fromisoformat(pickup) == _utc(5, 21, 15)  # 45 minutes before the visit

    visit.run_journey(until=_utc(5, 21))

    [(first, text), *_] = visit.received(PHONE)
    assert first == "appointment_reminder_ride"
    assert "Your visit is Thursday at 5:00 PM. Careloop Rides picks you up at 4:15 PM." in text


def _high_risk_booking(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, *, language: str
) -> tuple[Visit, AccessBooking]:
    visit = _seed(
        rt,
        clock,
        tmp_path,
        caregiver("p-001", "cg-101"),
        slot("s-mon", schedule_id="sch-1", start=_utc(9, 21)),  # Mon 5:00 PM (EDT from Mar 8)
        slot("s-tue", schedule_id="sch-1", start=_utc(10, 21)),
        slot("s-wed", schedule_id="sch-1", start=_utc(11, 21)),
        language=language,
    )
    visit.high_risk = True
    booked = _book(rt, clock, "s-mon")
    clock.set(_utc(3, 14))  # a week before the visit: the journey enrolls it
    return visit, booked


def test_a_high_risk_booking_is_offered_other_times_early_and_a_reply_moves_it(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit, old = _high_risk_booking(rt, clock, tmp_path, language="en")
    ctx = visit.context()

    visit.run_journey(until=_utc(5, 23), ctx=ctx)  # 5 days before: the early offer

    [(message, text)] = visit.received(PHONE)
    assert message == "reschedule_offer"
    assert "Visit Monday 5:00 PM. New time? Reply 1 for Tue 5:00 PM, 2 for Wed 5:00 PM" in text
    assert visit.reply("2", "SM-1") == "booked"

    with rt.transaction() as session:
        moved = session.scalars(select(AccessBooking).where(AccessBooking.state == "booked")).one()
        assert (moved.slot_id, moved.start) == ("s-wed", _utc(11, 21))
        assert session.get(AccessBooking, old.id).state == "cancelled"  # type: ignore[union-attr]
        assert session.get(FhirResource, ("Slot", "s-mon")).status == "free"  # type: ignore[union-attr]
    # The old visit's journey ends; the moved visit gets reminders of its own, no second offer.
    visit.run_journey(until=_utc(11, 20), ctx=visit.context())
    later = visit.received(PHONE)[1:]
    assert later[0][0] == "visit_booked"
    assert "Wednesday at 5:00 PM" in later[0][1]
    assert any(m == "appointment_reminder_3d" and "Wednesday" in b for m, b in later)
    assert "reschedule_offer" not in [m for m, _ in later]
    assert all("Monday" not in body and "Mon " not in body for _, body in later)
    wife = [m for m, _ in visit.received(WIFE_PHONE)]
    assert wife[:1] == ["caregiver_visit_booked"]  # told once, when it moved: the new time
    assert set(wife[1:]) == {"caregiver_visit_reminder"}


def test_in_spanish_the_early_offer_is_answered_in_words(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit, old = _high_risk_booking(rt, clock, tmp_path, language="es")

    visit.run_journey(until=_utc(5, 23), ctx=visit.context())

    [(message, text)] = visit.received(PHONE)
    assert message == "reschedule_offer"
    assert "¿Otra hora? Responda 1 para mar 17:00, 2 para mié 17:00" in text
    assert visit.reply("opción uno", "SM-1") == "booked"
    with rt.transaction() as session:
        moved = session.scalars(select(AccessBooking).where(AccessBooking.state == "booked")).one()
        assert moved.slot_id == "s-tue"
        assert session.get(AccessBooking, old.id).state == "cancelled"  # type: ignore[union-attr]


def test_a_booking_not_at_high_risk_gets_no_early_offer(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    visit, _old = _high_risk_booking(rt, clock, tmp_path, language="en")
    visit.high_risk = False

    visit.run_journey(until=_utc(5, 23))

    assert visit.received(PHONE) == []
    with rt.transaction() as session:
        assert session.scalars(select(AccessBooking.state)).all() == ["booked"]
