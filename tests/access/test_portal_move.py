"""The portal's "Change the time", on both databases: the visit stays booked until a new time
is, so leaving the page loses nothing; the caregiver who drives hears once, when it moved."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import select

from careloop.models import AccessBooking, AccessOffer, FhirResource, OutboxMessage
from careloop.runtime import Runtime
from tests.access.test_pages import _seed
from tests.access.test_portal_visits import Client, book_from_page
from tests.outreach.conftest import sync_content


def _caregiver_messages(rt: Runtime) -> list[str]:
    with rt.transaction() as session:
        return [
            str(m)
            for m in session.scalars(
                select(OutboxMessage.content_message)
                .where(OutboxMessage.recipient_kind == "caregiver")
                .order_by(OutboxMessage.id)
            )
        ]


def _slot_status(rt: Runtime, slot_id: str) -> str:
    with rt.transaction() as session:
        row = session.get(FhirResource, ("Slot", slot_id))
        assert row is not None
        return str(row.status)


def test_changing_the_time_keeps_the_visit_until_a_new_one_is_booked(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    book_from_page(client)
    with rt.transaction() as session:
        [first] = session.scalars(select(AccessBooking)).all()
    assert first.slot_id == "s-tue"
    assert _caregiver_messages(rt) == ["caregiver_visit_booked"]

    moved = client.post(f"/portal/visits/{first.id}/move", follow_redirects=True)

    assert moved.status_code == 200
    assert f'id="visit-{first.id}"' in moved.text  # still booked while choosing
    assert 'id="moving-note"' in moved.text
    assert "Thursday 5 March, 5:00 PM" in moved.text
    assert not re.search(r"<label[^>]*>Tuesday 3 March", moved.text)  # not its own time again
    with rt.transaction() as session:
        assert session.get(AccessBooking, first.id).state == "booked"  # type: ignore[union-attr]
    assert _slot_status(rt, "s-tue") == "busy"
    assert _caregiver_messages(rt) == ["caregiver_visit_booked"]  # nothing moved yet
    left = client.get("/portal/visits")  # the patient walks away and comes back
    assert f'id="visit-{first.id}"' in left.text

    with rt.transaction() as session:
        move_offer = session.scalar(select(AccessOffer.id).where(AccessOffer.kind == "move"))
    booked = client.post(
        "/portal/visits/book", data={"offer": move_offer, "choice": "1"}, follow_redirects=False
    )

    assert booked.status_code == 303
    with rt.transaction() as session:
        states = {b.slot_id: b.state for b in session.scalars(select(AccessBooking))}
    assert states == {"s-tue": "cancelled", "s-thu": "booked"}
    assert _slot_status(rt, "s-tue") == "free"
    assert _caregiver_messages(rt) == ["caregiver_visit_booked", "caregiver_visit_booked"]


def test_moving_with_no_other_time_keeps_the_visit(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    book_from_page(client)
    book_from_page(api_client("patient", patient_id="p-002"))
    with rt.transaction() as session:
        mine = session.scalar(select(AccessBooking).where(AccessBooking.patient_id == "p-001"))
    assert mine is not None

    page = client.post(f"/portal/visits/{mine.id}/move", follow_redirects=True)

    assert "No other times are free right now. Your visit stays booked." in page.text
    with rt.transaction() as session:
        assert session.get(AccessBooking, mine.id).state == "booked"  # type: ignore[union-attr]
