"""Moving a visit offers times for the same kind of visit, each a time a reply can name: a
high-risk follow-up was offered a mammography slot, and "1 for Mon 9:00 AM, 2 for Mon 9:00 AM"
(the same hour at two clinics) in one text."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from careloop.access import booking as bookings
from careloop.access.moves import other_times
from careloop.access.sending import send_offer
from careloop.access.service import find_offers
from careloop.models import AccessOffer, OutboxMessage
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.fhir_fixtures import import_resources, location, patient, schedule, slot
from tests.outreach.conftest import sync_content


def _utc(day: int, hour: int) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def _seed(rt: Runtime, tmp_path: Path) -> None:
    import_resources(
        rt,
        tmp_path,
        [
            patient("p-001"),
            location(),
            schedule("sch-follow", service="follow-up"),
            schedule("sch-follow-2", service="follow-up"),
            schedule("sch-mammo", service="mammography"),
            slot("f-booked", schedule_id="sch-follow", start=_utc(4, 22)),
            slot("f-thu", schedule_id="sch-follow", start=_utc(5, 20)),
            slot("f-thu-too", schedule_id="sch-follow-2", start=_utc(5, 20)),
            slot("f-fri", schedule_id="sch-follow", start=_utc(6, 20)),
            slot("m-wed", schedule_id="sch-mammo", start=_utc(4, 15)),
            slot("m-thu", schedule_id="sch-mammo", start=_utc(5, 15)),
        ],
    )


def test_a_visit_moves_only_to_other_times_for_the_same_service(
    rt: Runtime, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    with rt.transaction() as session:
        now = rt.clock.now()
        [offer] = [
            o
            for o in find_offers(session, patient_id="p-001", now=now, limit=10)
            if o.slot == "f-booked"
        ]
        booked = bookings.book(
            session,
            patient_id="p-001",
            offer=offer,
            clock=rt.clock,
            principal=CLI_OPERATOR,
            channel="portal",
        )
        times = other_times(session, booking=booked, now=now, limit=3)

    slots = [o.slot for o in times]
    assert not {"m-wed", "m-thu"} & set(slots)  # never another clinic's kind of visit
    assert "f-booked" not in slots
    assert len({o.start for o in times}) == len(times) == 2  # Thu once, Fri
    assert {o.start for o in times} == {_utc(5, 20), _utc(6, 20)}


def test_a_texted_offer_names_each_time_once(rt: Runtime, tmp_path: Path) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    with rt.transaction() as session:
        sent = send_offer(
            session, patient_id="p-001", clock=rt.clock, settings=rt.settings, service="follow-up"
        )
        row = session.get(AccessOffer, sent.offer_id)
        assert row is not None
        starts = [c["start"] for c in row.choices]
        assert sent.outbox_id is not None
        message = session.get(OutboxMessage, sent.outbox_id)
        assert message is not None
        body = message.body

    assert len(starts) == len(set(starts)) == 3
    assert "1 for Wed" in body
    assert "2 for Thu" in body
    assert "3 for Fri" in body
