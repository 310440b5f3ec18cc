"""The caregiver who comes along hears of the booking, the move and the cancellation, in
words that carry the first name and the time only; one who does not come along hears nothing.
Both databases, through the reply router and the outbox."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from careloop.channels.keywords import parse_reply
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.clock import FrozenClock
from careloop.conversations.inbound import InboundContext, handle_reply
from careloop.models import OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.runtime import Runtime
from tests.access.fhir_fixtures import caregiver
from tests.access.test_booking import PHONE, _offer_and_deliver, _seed

WIFE_PHONE = "+15550108101"  # caregiver("p-001", "cg-101")'s number


def _reply(rt: Runtime, clock: FrozenClock, body: str, sid: str) -> str:
    clock.advance(timedelta(minutes=5))
    parsed = parse_reply(body)
    ctx = InboundContext(
        clock=clock, programs={}, settings=OutreachSettings(), app_settings=rt.settings
    )
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


def _caregiver_texts(rt: Runtime) -> list[tuple[str, str, str]]:
    with rt.transaction() as session:
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient_kind == "caregiver")
            .order_by(OutboxMessage.id)
        ).all()
        return [(r.content_message or "", r.to_address, r.body) for r in rows]


def test_the_wife_who_drives_hears_of_booking_move_and_cancel(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path, carers=[caregiver("p-001", "cg-101")])
    _offer_and_deliver(rt, clock)

    assert _reply(rt, clock, "1", "SM-1") == "booked"
    assert _reply(rt, clock, "reschedule", "SM-2") == "rescheduling"
    assert _reply(rt, clock, "2", "SM-3") == "booked"
    assert _reply(rt, clock, "cancel visit", "SM-4") == "visit-cancelled"

    texts = _caregiver_texts(rt)
    assert [(m, to) for m, to, _ in texts] == [
        ("caregiver_visit_booked", WIFE_PHONE),
        ("caregiver_visit_moving", WIFE_PHONE),
        ("caregiver_visit_booked", WIFE_PHONE),
        ("caregiver_visit_cancelled", WIFE_PHONE),
    ]
    assert "has a visit on Tuesday at 3:45 PM" in texts[0][2]
    assert "visit on Tuesday at 3:45 PM is being moved" in texts[1][2]
    assert "has a visit on Thursday at 5:00 PM" in texts[2][2]
    assert "visit on Thursday at 5:00 PM is cancelled" in texts[3][2]
    # Minimum necessary: no family name, no place, no reason for the visit.
    for _, _, body in texts:
        assert "Main clinic" not in body
        assert "Test" not in body


def test_a_caregiver_who_does_not_come_along_is_not_told(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path, carers=[caregiver("p-001", "cg-101", accompanies=False)])
    _offer_and_deliver(rt, clock)

    assert _reply(rt, clock, "1", "SM-1") == "booked"

    assert _caregiver_texts(rt) == []


def test_the_wife_is_greeted_by_her_own_name_and_the_patient_named_apart(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """Finding 9: "Hi Pat! Pat has a visit" read as if the wife were the patient."""
    _seed(rt, tmp_path, carers=[caregiver("p-001", "cg-101", given="Maria")])
    _offer_and_deliver(rt, clock)

    assert _reply(rt, clock, "1", "SM-1") == "booked"

    [(_, _, body)] = _caregiver_texts(rt)
    assert body.startswith("Hi Maria! Pat has a visit on Tuesday at 3:45 PM.")
    assert "Driver" not in body  # a friendly copy greets by first name only


def test_a_caregiver_without_a_name_on_file_is_not_greeted_as_the_patient(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path, carers=[caregiver("p-001", "cg-101")])
    _offer_and_deliver(rt, clock)

    assert _reply(rt, clock, "1", "SM-1") == "booked"

    [(_, _, body)] = _caregiver_texts(rt)
    assert body.startswith("Hi there! Pat has a visit on Tuesday")
