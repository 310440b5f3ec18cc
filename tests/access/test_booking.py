"""Booking from a text, end to end through the outbox, the worker and the reply router, on both
databases: a choice books (Appointment in the record, slot busy), Spanish words work, cancel and
reschedule by reply, a bare CANCEL stays an opt-out, and a hold expires."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.sending import send_offer
from careloop.access.service import find_offers
from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.governance.consent import opt_out_channel
from careloop.models import AccessBooking, FhirResource, OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.outreach.eligibility import AppointmentEligibility
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import (
    caregiver,
    import_resources,
    location,
    patient,
    schedule,
    slot,
)
from tests.outreach.conftest import APPOINTMENTS, fake_registry, program, sync_content

PHONE = "+15550109001"  # patient("p-001")'s mobile


def _utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def _seed(
    rt: Runtime,
    tmp_path: Path,
    *,
    language: str = "en",
    carers: Sequence[dict[str, Any]] = (),
) -> None:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001", language=language),
            *(carers or [caregiver("p-001", "p-001-wife")]),
            location(),
            schedule("sch-1"),
            slot("s-tue", schedule_id="sch-1", start=_utc(3, 20, 45)),
            slot("s-thu", schedule_id="sch-1", start=_utc(5, 22)),
        ],
    )
    sync_content(rt)
    with rt.transaction() as session:
        for other in ("voice", "email", "portal"):  # texts only, so the reply path is SMS
            opt_out_channel(
                session,
                patient_id="p-001",
                channel=other,
                source="staff",
                actor="user:coordinator",
                now=rt.clock.now(),
            )


def _offer_and_deliver(rt: Runtime, clock: FrozenClock) -> str:
    with rt.transaction() as session:
        sent = send_offer(session, patient_id="p-001", clock=clock, settings=rt.settings)
    assert sent.outbox_id is not None, sent.not_queued
    with rt.transaction() as session:
        row = session.get(OutboxMessage, sent.outbox_id)
        assert row is not None
        due = row.due_at
    clock.set(max(clock.now(), due))
    registry, sms, *_ = fake_registry()
    worker = build_worker(rt, worker_id="access-worker", channels=registry)
    worker.sleep = lambda _s: None
    worker.run(once=True)
    [text] = [m.message.body for m in sms.sent]
    return text


def _reply(rt: Runtime, clock: FrozenClock, body: str, sid: str) -> str:
    clock.advance(timedelta(minutes=5))
    parsed = parse_reply(body)
    ctx = InboundContext(clock=clock, programs={}, settings=OutreachSettings())
    with rt.transaction() as session:
        outcome = handle_reply(
            session,
            ctx=ctx,
            message=InboundMessage(
                channel=ChannelKind.SMS,
                sender=PHONE,
                recipient="+15550009999",
                body=body,
                provider_id=sid,
                received_at=clock.now(),
                keyword=parsed.keyword,
                number=parsed.number,
            ),
        )
    return outcome.handled_as


def _answer(rt: Runtime, sid: str) -> str:
    with rt.transaction() as session:
        row = session.scalar(
            select(OutboxMessage).where(OutboxMessage.idempotency_key == f"reply:sms:{sid}")
        )
        assert row is not None
        return row.body


def _resource(rt: Runtime, rtype: str, fid: str) -> FhirResource:
    with rt.transaction() as session:
        row = session.get(FhirResource, (rtype, fid))
        assert row is not None
        session.expunge(row)
        return row


def test_a_reply_books_the_chosen_slot(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _seed(rt, tmp_path)
    text = _offer_and_deliver(rt, clock)
    assert "Visit times: reply 1 for Tue 3:45 PM, 2 for Thu 5:00 PM" in text
    assert re.search(r"/portal/book/[\w-]+\.[\w-]+", text)

    assert _reply(rt, clock, "2", "SM-1") == "booked"

    with rt.transaction() as session:
        [booked] = session.scalars(select(AccessBooking)).all()
        assert (booked.slot_id, booked.state, booked.ride) == ("s-thu", "booked", False)
        appointment_id = booked.id
    appointment = _resource(rt, "Appointment", appointment_id)
    assert (appointment.patient_id, appointment.status) == ("p-001", "booked")
    assert appointment.resource["slot"] == [{"reference": "Slot/s-thu"}]
    assert _resource(rt, "Slot", "s-thu").status == "busy"
    assert "You are booked for Thursday at 5:00 PM. Place: Main clinic." in _answer(rt, "SM-1")
    with rt.transaction() as session:
        left = find_offers(session, patient_id="p-001", now=clock.now())
    assert [o.slot for o in left] == ["s-tue"]


def test_spanish_words_book_and_cancel(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _seed(rt, tmp_path, language="es")
    text = _offer_and_deliver(rt, clock)
    assert "1 para mar 15:45, 2 para jue 17:00" in text

    assert _reply(rt, clock, "opción uno", "SM-1") == "booked"
    assert "Cita: martes 15:45, Main clinic." in _answer(rt, "SM-1")  # finding 3: where, too
    assert _resource(rt, "Slot", "s-tue").status == "busy"

    assert _reply(rt, clock, "Cancelar cita", "SM-2") == "visit-cancelled"
    assert "cancelada" in _answer(rt, "SM-2")
    assert _resource(rt, "Slot", "s-tue").status == "free"
    with rt.transaction() as session:
        [cancelled] = session.scalars(select(AccessBooking)).all()
        assert (cancelled.state, cancelled.active_slot) == ("cancelled", None)
        appointment = session.get(FhirResource, ("Appointment", cancelled.id))
        assert appointment is not None
        assert appointment.status == "cancelled"


def test_reschedule_by_reply_frees_the_slot_and_offers_new_times(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    _offer_and_deliver(rt, clock)
    assert _reply(rt, clock, "1", "SM-1") == "booked"

    assert _reply(rt, clock, "reschedule", "SM-2") == "rescheduling"

    assert "Visit times: reply 1 for" in _answer(rt, "SM-2")
    assert _resource(rt, "Slot", "s-tue").status == "free"
    assert _reply(rt, clock, "2", "SM-3") == "booked"


def test_a_bare_cancel_stays_an_opt_out(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _seed(rt, tmp_path)
    _offer_and_deliver(rt, clock)
    assert _reply(rt, clock, "1", "SM-1") == "booked"

    assert _reply(rt, clock, "CANCEL", "SM-2") == "opted-out"
    assert _resource(rt, "Slot", "s-tue").status == "busy"


def test_a_number_without_an_offer_is_left_to_the_other_readers(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    _offer_and_deliver(rt, clock)
    clock.advance(timedelta(days=3))  # the offer expired after 48 hours

    assert _reply(rt, clock, "1", "SM-1") != "booked"
    with rt.transaction() as session:
        assert session.scalars(select(AccessBooking)).all() == []


def test_a_hold_expires_and_the_slot_can_be_held_again(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    import_resources(rt, tmp_path / "b", [patient("p-002")])
    with rt.transaction() as session:
        [offer, *_] = find_offers(session, patient_id="p-001", now=clock.now())
        first = bookings.hold(
            session, patient_id="p-001", offer=offer, now=clock.now(), channel="portal"
        )
        with pytest.raises(bookings.SlotTaken):
            bookings.hold(
                session, patient_id="p-002", offer=offer, now=clock.now(), channel="portal"
            )
        first_id = first.id
    clock.advance(timedelta(minutes=11))
    with rt.transaction() as session:
        second = bookings.hold(
            session, patient_id="p-002", offer=offer, now=clock.now(), channel="portal"
        )
        bookings.confirm(session, booking=second, clock=clock, principal=CLI_OPERATOR)
        expired = bookings.get_booking(session, first_id)
        assert expired.state == "expired"
        with pytest.raises(bookings.SlotTaken):
            bookings.confirm(session, booking=expired, clock=clock, principal=CLI_OPERATOR)


def test_the_appointment_journey_picks_up_a_booking(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    _offer_and_deliver(rt, clock)
    assert _reply(rt, clock, "1", "SM-1") == "booked"
    reminders = program(APPOINTMENTS)

    with rt.transaction() as session:
        [candidate] = AppointmentEligibility()(session, program=reminders, now=clock.now())

    assert candidate.patient_id == "p-001"
    assert candidate.fields["appointment_at"] == _utc(3, 20, 45).isoformat()
    assert candidate.fields["appointment_place"] == "Main clinic"
    assert _reply(rt, clock, "cancel visit", "SM-2") == "visit-cancelled"
    with rt.transaction() as session:
        assert list(AppointmentEligibility()(session, program=reminders, now=clock.now())) == []


def test_a_number_answering_a_later_question_is_not_a_booking(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The later question must go when it is due: no minimum gap between contacts here.
    monkeypatch.setenv("CARELOOP_OUTREACH__BUDGET__MIN_GAP_HOURS", "0")
    _seed(rt, tmp_path)
    _offer_and_deliver(rt, clock)
    clock.advance(timedelta(hours=1))
    with rt.transaction() as session:
        enqueue(
            session,
            message=NewMessage(
                idempotency_key="later-question",
                patient_id="p-001",
                purpose="clinical-monitoring",
                channel="sms",
                to_address=PHONE,
                body="How many days did you take your pills? Reply 0 to 7.",
                due_at=clock.now(),
                content_message="adherence_question",
            ),
            now=clock.now(),
        )
    registry, _sms, *_ = fake_registry()
    worker = build_worker(rt, worker_id="later-worker", channels=registry)
    worker.sleep = lambda _s: None
    worker.run(once=True)

    assert _reply(rt, clock, "2", "SM-1") != "booked"
    with rt.transaction() as session:
        assert session.scalars(select(AccessBooking)).all() == []
