"""A patient whose record says "interpreter needed": booking a visit (by reply or on the
portal) notes the interpreter on the Appointment and asks a coordinator to book one; the
console's patient view shows the flag. Both databases."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.access import booking as bookings
from careloop.access.service import find_offers
from careloop.careteam.worklist import list_worklist
from careloop.clock import FrozenClock
from careloop.models import AccessBooking, FhirResource
from careloop.records.interpreter import INTERPRETER_EXTENSION
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot
from tests.access.test_booking import _offer_and_deliver, _reply, _seed


def _needs_interpreter(pid: str, language: str) -> dict[str, Any]:
    resource = patient(pid, language=language)
    resource["communication"][0] |= {
        "preferred": True,
        "extension": [{"url": INTERPRETER_EXTENSION, "valueBoolean": True}],
    }
    return resource


def _tasks(rt: Runtime, clock: FrozenClock) -> list[tuple[str, str]]:
    with rt.transaction() as session:
        return [(e.rule_id, e.title) for e in list_worklist(session, now=clock.now())]


def test_a_reply_booking_notes_and_books_an_interpreter(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path, language="es")
    import_resources(rt, tmp_path / "flag", [_needs_interpreter("p-001", "es")])
    _offer_and_deliver(rt, clock)

    assert _reply(rt, clock, "1", "SMint1") == "booked"

    with rt.transaction() as session:
        booking = session.scalars(select(AccessBooking)).one()
        row = session.get(FhirResource, ("Appointment", booking.id))
        assert row is not None
        appointment = row.resource
    assert appointment["comment"] == "Interpreter needed: Spanish (es)"
    [interpreter] = [p for p in appointment["participant"] if p.get("type", [{}])[0].get("text")]
    assert interpreter["type"][0]["coding"][0]["code"] == "INTP"
    assert interpreter["status"] == "needs-action"
    # s-tue: 3 March 20:45 UTC is 15:45 in New York
    assert (
        f"access-interpreter:{booking.id}",
        "Book a Spanish interpreter for 2026-03-03 15:45",
    ) in _tasks(rt, clock)


def test_a_portal_booking_without_the_flag_books_no_interpreter(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path, language="es")
    with rt.transaction() as session:
        [offer, *_] = find_offers(session, patient_id="p-001", now=clock.now())
        booked = bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=clock,
            principal=CLI_OPERATOR,
            channel="portal",
        )
        row = session.get(FhirResource, ("Appointment", booked.id))
        assert row is not None
        assert "comment" not in row.resource
    assert not [t for t in _tasks(rt, clock) if t[0].startswith("access-interpreter")]


def test_a_portal_booking_for_a_flagged_patient_books_one(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    import_resources(
        rt,
        tmp_path,
        [
            _needs_interpreter("p-002", "vi"),
            location(),
            schedule("sch-1"),
            slot("s-1", schedule_id="sch-1", start=datetime(2026, 3, 4, 15, tzinfo=UTC)),
        ],
    )
    with rt.transaction() as session:
        [offer, *_] = find_offers(session, patient_id="p-002", now=clock.now())
        booked = bookings.book(
            session,
            patient_id="p-002",
            offer=offer,
            clock=clock,
            principal=CLI_OPERATOR,
            channel="portal",
        )
        booking_id = booked.id
    assert (
        f"access-interpreter:{booking_id}",
        "Book a Vietnamese interpreter for 2026-03-04 10:00",
    ) in _tasks(rt, clock)


def test_the_console_patient_view_shows_the_flag(rt: Runtime, tmp_path: Path, api_client) -> None:  # type: ignore[no-untyped-def]
    import_resources(rt, tmp_path, [_needs_interpreter("p-003", "vi"), patient("p-004")])
    clinician = api_client("clinician")

    flagged = clinician.get("/console/patients/p-003")
    plain = clinician.get("/console/patients/p-004")
    record = clinician.get("/api/patients/p-003")

    assert flagged.status_code == 200
    assert "Interpreter needed: Vietnamese" in flagged.text
    assert "Interpreter needed" not in plain.text
    assert record.json()["interpreter"] == "Vietnamese"
