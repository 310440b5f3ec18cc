"""Waitlist back-fill: a visit cancelled by reply is offered to the waiting patients, ranked by
priority then no-show risk; the first to accept gets it and the others are told it went."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select, update

from careloop.access import booking as bookings
from careloop.access.service import find_offers
from careloop.access.waitlist import add_to_waitlist
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.governance.consent import opt_out_channel
from careloop.models import (
    AccessBooking,
    AccessOffer,
    FhirResource,
    OutboxMessage,
    WaitlistEntry,
)
from careloop.outreach.config import OutreachSettings
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot
from tests.outreach.conftest import fake_registry, sync_content

START = datetime(2026, 3, 3, 20, 45, tzinfo=UTC)
PIDS = ("p-001", "p-002", "p-003", "p-004", "p-005")


def _phone(pid: str) -> str:
    return "+15550109" + pid[-3:]


def _deliver(
    rt: Runtime, clock: FrozenClock, *, at: datetime | None = None
) -> list[tuple[str, str]]:
    with rt.transaction() as session:
        due = [m.due_at for m in session.scalars(select(OutboxMessage))]
    clock.set(at or max([clock.now(), *due]))
    registry, sms, *_ = fake_registry()
    worker = build_worker(rt, worker_id=f"w-{clock.now().timestamp()}", channels=registry)
    worker.sleep = lambda _s: None
    worker.run(once=True)
    return [(m.message.to, m.message.body) for m in sms.sent]


def _reply(rt: Runtime, clock: FrozenClock, pid: str, body: str, sid: str) -> str:
    clock.advance(timedelta(minutes=1))
    ctx = InboundContext(
        clock=clock, programs={}, settings=OutreachSettings(), app_settings=rt.settings
    )
    parsed = parse_reply(body)
    with rt.transaction() as session:
        return handle_reply(
            session,
            ctx=ctx,
            message=InboundMessage(
                channel=ChannelKind.SMS,
                sender=_phone(pid),
                recipient="+15550009999",
                body=body,
                provider_id=sid,
                received_at=clock.now(),
                keyword=parsed.keyword,
                number=parsed.number,
            ),
        ).handled_as


def _offered_to_the_waitlist(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, *, held: str | None = None
) -> None:
    """p-001's visit is cancelled by reply; its slot is offered to p-002, p-003 and p-004
    (p-005 waits for dermatology) and the offers are delivered."""
    import_resources(
        rt,
        tmp_path,
        [
            *(patient(p) for p in PIDS),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=START),
        ],
    )
    sync_content(rt)
    with rt.transaction() as session:
        for pid in PIDS:
            for other in ("voice", "email", "portal"):
                opt_out_channel(
                    session,
                    patient_id=pid,
                    channel=other,
                    source="staff",
                    actor="t",
                    now=clock.now(),
                )
        [offer] = find_offers(session, patient_id="p-001", now=clock.now())
        bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=clock,
            principal=CLI_OPERATOR,
            channel="sms",
        )
        now = clock.now()
        add_to_waitlist(session, patient_id="p-002", now=now, priority=2)
        add_to_waitlist(session, patient_id="p-003", now=now, priority=5, noshow_risk=0.2)
        add_to_waitlist(session, patient_id="p-004", now=now, priority=5, noshow_risk=0.8)
        add_to_waitlist(session, patient_id="p-005", now=now, priority=1, service="dermatology")
        # p-001 needs a message to answer: the confirmation of the booking, sent by text.
        enqueue(
            session,
            message=NewMessage(
                idempotency_key="seed-confirmation",
                patient_id="p-001",
                purpose="care-reminders",
                channel="sms",
                to_address=_phone("p-001"),
                body="You are booked.",
                due_at=now,
            ),
            now=now,
        )
    _deliver(rt, clock)

    assert _reply(rt, clock, "p-001", "cancel visit", "SM-1") == "visit-cancelled"
    if held is not None:  # its offer waits (say, for the end of the patient's quiet hours)
        with rt.transaction() as session:
            outbox_id = session.scalar(
                select(AccessOffer.outbox_id).where(
                    AccessOffer.patient_id == held, AccessOffer.kind == "backfill"
                )
            )
            soon = session.scalar(
                select(func.max(OutboxMessage.due_at)).where(OutboxMessage.id != outbox_id)
            )
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == outbox_id)
                .values(
                    due_at=clock.now() + timedelta(hours=10),
                    next_attempt_at=clock.now() + timedelta(hours=10),
                )
            )
        offered_to = {to for to, body in _deliver(rt, clock, at=soon) if "reply 1 for" in body}
        assert offered_to == {_phone(p) for p in ("p-002", "p-003", "p-004") if p != held}
        return
    offered_to = {to for to, body in _deliver(rt, clock) if "reply 1 for Tue 3:45 PM" in body}
    assert offered_to == {_phone("p-002"), _phone("p-003"), _phone("p-004")}  # not dermatology


def _booked(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        return list(
            session.scalars(select(AccessBooking.patient_id).where(AccessBooking.state == "booked"))
        )


def test_a_cancelled_slot_goes_to_the_first_waiting_patient_who_accepts(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _offered_to_the_waitlist(rt, clock, tmp_path)

    assert _reply(rt, clock, "p-004", "1", "SM-2") == "booked"
    told = {to for to, body in _deliver(rt, clock) if "that time was just taken" in body}
    assert told == {_phone("p-002"), _phone("p-003")}
    assert _reply(rt, clock, "p-003", "1", "SM-3") != "booked"  # too late: the offer is closed

    with rt.transaction() as session:
        states = dict(session.execute(select(WaitlistEntry.patient_id, WaitlistEntry.state)).all())
    assert _booked(rt) == ["p-004"]
    assert states == {"p-002": "waiting", "p-003": "waiting", "p-004": "booked", "p-005": "waiting"}


def test_parallel_replies_to_one_back_fill_offer_book_the_slot_once(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """Three waiting patients answer "1" for the same freed slot at the same moment, each
    through the reply router in its own transaction (as three web workers would): one is
    booked, the other two are told it went, and the slot has one Appointment."""
    _offered_to_the_waitlist(rt, clock, tmp_path)
    clock.advance(timedelta(minutes=1))
    racers = ("p-002", "p-003", "p-004")
    barrier = threading.Barrier(len(racers))
    answers: dict[str, str] = {}

    def answer(pid: str) -> None:
        ctx = InboundContext(
            clock=clock, programs={}, settings=OutreachSettings(), app_settings=rt.settings
        )
        message = InboundMessage(
            channel=ChannelKind.SMS, sender=_phone(pid), recipient="+15550009999", body="1",
            provider_id=f"SM-race-{pid}", received_at=clock.now(), keyword=None, number=1,
        )  # fmt: skip
        barrier.wait()
        with rt.transaction() as session:
            answers[pid] = handle_reply(session, ctx=ctx, message=message).handled_as

    threads = [threading.Thread(target=answer, args=(pid,)) for pid in racers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    [winner] = _booked(rt)
    assert answers[winner] == "booked"
    assert sorted(answers.values()).count("booked") == 1, answers
    told = {to for to, body in _deliver(rt, clock) if "that time was just taken" in body}
    assert told == {_phone(p) for p in racers if p != winner}
    with rt.transaction() as session:
        visits = session.scalars(
            select(FhirResource.status).where(
                FhirResource.resource_type == "Appointment", FhirResource.status == "booked"
            )
        ).all()
    assert visits == ["booked"]


def test_metrics_count_offers_and_what_became_of_them(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    from careloop.access.metrics import access_metrics
    from careloop.access.offers import open_offer

    import_resources(
        rt,
        tmp_path,
        [patient("p-001"), patient("p-002"), location(), schedule("sch-1"),
         slot("s-1", schedule_id="sch-1", start=START)],
    )  # fmt: skip
    with rt.transaction() as session:
        offers = find_offers(session, patient_id="p-001", now=clock.now())
        first = open_offer(session, offers=offers, patient_id="p-001", now=clock.now())
        open_offer(session, offers=offers, patient_id="p-002", now=clock.now())
        booked = bookings.book(
            session, patient_id="p-001", offer=offers[0], clock=clock, principal=CLI_OPERATOR,
            channel="sms", offer_id=first.id,
        )  # fmt: skip
        first.booking_id = booked.id
    with rt.transaction() as session:
        figures = access_metrics(
            session, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(days=1)
        )
    assert (figures["offers"], figures["booked"], figures["conversion"]) == (2, 1, 0.5)
    assert figures["median_days_offer_to_visit"] == round(
        (START - clock.now()).total_seconds() / 86400, 2
    )


def test_back_fill_offers_show_as_sent_and_count_as_offers(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """A back-fill offer takes the path of any texted offer: the console's board shows it
    sent, and the access report counts it (``slots_offered``)."""
    from careloop.access.board import board
    from careloop.access.metrics import access_metrics

    _offered_to_the_waitlist(rt, clock, tmp_path)

    with rt.transaction() as session:
        shown = board(session, now=clock.now())
        figures = access_metrics(
            session, since=clock.now() - timedelta(days=1), until=clock.now() + timedelta(days=1)
        )
    sent = {o["patient_id"]: o["sent"] for o in shown.offers if o["kind"] == "backfill"}
    assert sent == {"p-002": True, "p-003": True, "p-004": True}
    assert figures["offers"] == 3


def test_a_back_fill_offer_that_never_went_is_not_followed_by_its_slot_gone(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """Back-fill offers now keep their message, so one still queued when another patient
    takes the slot is dropped at send time; its patient must not then be told "that time
    was just taken" about an offer they never received."""
    _offered_to_the_waitlist(rt, clock, tmp_path, held="p-002")

    assert _reply(rt, clock, "p-004", "1", "SM-2") == "booked"
    later = _deliver(rt, clock)  # up to the held offer's time

    assert [body for to, body in later if to == _phone("p-002")] == []
    told = {to for to, body in later if "that time was just taken" in body}
    assert told == {_phone("p-003")}
    with rt.transaction() as session:
        state = session.scalar(
            select(WaitlistEntry.state).where(WaitlistEntry.patient_id == "p-002")
        )
    assert state == "waiting"  # still on the list for the next freed slot
