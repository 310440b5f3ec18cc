"""The reply grammar in English and Spanish, and double booking under parallel replies."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from careloop.access import booking as bookings
from careloop.access.finder import Offer
from careloop.access.grammar import BookingReply, parse_booking_reply
from careloop.models import AccessBooking, FhirResource
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot


@pytest.mark.parametrize(
    ("text", "choice"),
    [
        ("1", 1), ("2", 2), (" 3. ", 3), ("#2", 2), ("option 2", 2), ("2 please", 2),
        ("two", 2), ("Three", 3), ("first", 1),
        ("uno", 1), ("DOS", 2), ("tres", 3), ("opción 2", 2), ("opcion dos", 2), ("el 2", 2),
        ("la primera", 1), ("2 por favor", 2), ("Sí, el 3", 3),
        ("dois", 2), ("opção 3", 3), ("a primeira", 1), ("二", 2), ("第2个", 2), ("我要三", 3),
    ],
)  # fmt: skip
def test_a_choice_in_either_language(text: str, choice: int) -> None:
    assert parse_booking_reply(text) == BookingReply("choice", choice)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("CANCEL VISIT", "cancel"), ("cancel appointment", "cancel"), ("Cancel appt", "cancel"),
        ("cancelar cita", "cancel"), ("CANCELAR MI CITA", "cancel"), ("anular", "cancel"),
        ("R", "reschedule"), ("reschedule", "reschedule"), ("new time", "reschedule"),
        ("cambiar", "reschedule"), ("REPROGRAMAR", "reschedule"), ("otro día", "reschedule"),
        ("Cancelar consulta", "cancel"), ("desmarcar", "cancel"), ("取消预约", "cancel"),
        ("remarcar", "reschedule"), ("outro horário", "reschedule"), ("改期", "reschedule"),
        ("改时间", "reschedule"),
    ],
)  # fmt: skip
def test_cancel_and_reschedule_in_either_language(text: str, kind: str) -> None:
    parsed = parse_booking_reply(text)
    assert parsed is not None
    assert parsed.kind == kind


@pytest.mark.parametrize(
    "text",
    [
        "CANCEL",
        "STOP",
        "cancelar",
        "1 or 2",
        "12",
        "my sugar is 7",
        "yes",
        "0",
        "",
        "tal vez",
        "取消",
        "一或二",
        "talvez",
    ],
)
def test_words_that_are_not_an_answer_to_an_offer(text: str) -> None:
    assert parse_booking_reply(text) is None


@given(st.text(max_size=40))
def test_any_text_is_read_as_at_most_one_small_choice(text: str) -> None:
    parsed = parse_booking_reply(text)
    if parsed is not None and parsed.kind == "choice":
        assert parsed.choice is not None
        assert 1 <= parsed.choice <= 9


def test_parallel_replies_for_one_slot_book_it_once(rt: Runtime, tmp_path: Path) -> None:
    start = datetime(2026, 3, 3, 20, 45, tzinfo=UTC)
    pids = [f"p-{n:03d}" for n in range(1, 7)]
    import_resources(
        rt,
        tmp_path,
        [
            *(patient(p) for p in pids),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=start),
        ],
    )
    offer = Offer("s-1", start, start.replace(minute=15, hour=21), "in-person", False, "test")
    barrier = threading.Barrier(len(pids))
    outcomes: dict[str, str] = {}

    def reply(pid: str) -> None:
        barrier.wait()
        try:
            with rt.transaction() as session:
                bookings.book(
                    session,
                    patient_id=pid,
                    offer=offer,
                    clock=rt.clock,
                    principal=CLI_OPERATOR,
                    channel="sms",
                )
            outcomes[pid] = "booked"
        except bookings.SlotTaken:
            outcomes[pid] = "taken"

    threads = [threading.Thread(target=reply, args=(p,)) for p in pids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes.values()) == ["booked"] + ["taken"] * (len(pids) - 1)
    with rt.transaction() as session:
        live = session.scalar(
            select(func.count()).select_from(AccessBooking).where(AccessBooking.state == "booked")
        )
        appointments = session.scalar(
            select(func.count())
            .select_from(FhirResource)
            .where(FhirResource.resource_type == "Appointment")
        )
    assert (live, appointments) == (1, 1)
