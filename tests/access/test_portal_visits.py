"""The signed-in portal's visits page on both databases: choices come from the patient's own
offer, a booking there confirms and tells the caregiver who comes along, and one patient can
neither book from nor cancel another's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.models import AccessBooking, AccessOffer, OutboxMessage
from careloop.runtime import Runtime
from tests.access.test_pages import _seed
from tests.outreach.conftest import sync_content

Client = Callable[..., Any]


def _offer_id(rt: Runtime, patient_id: str) -> str:
    with rt.transaction() as session:
        offer_id = session.scalar(
            select(AccessOffer.id).where(
                AccessOffer.patient_id == patient_id, AccessOffer.state == "open"
            )
        )
        assert offer_id is not None
        return offer_id


def test_a_patient_books_from_the_visits_page(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")

    page = client.get("/portal/visits")
    assert page.status_code == 200, page.text
    assert "Tuesday 3 March, 3:45 PM" in page.text
    offer_id = _offer_id(rt, "p-001")
    booked = client.post(
        "/portal/visits/book",
        data={"offer": offer_id, "choice": "1"},
        follow_redirects=False,
    )

    assert booked.status_code == 303
    assert "done=booked&booking=" in booked.headers["location"]
    with rt.transaction() as session:
        [booking] = session.scalars(select(AccessBooking)).all()
        # The page after names this booking, to say whether its confirmation left yet.
        assert booked.headers["location"].endswith(f"&booking={booking.id}")
        assert (booking.slot_id, booking.state, booking.channel) == ("s-tue", "booked", "portal")
        sent = {
            (m.recipient_kind, m.content_message)
            for m in session.scalars(select(OutboxMessage)).all()
        }
    assert ("patient", "visit_booked") in sent
    assert ("caregiver", "caregiver_visit_booked") in sent
    again = client.get("/portal/visits")
    assert f'id="visit-{booking.id}"' in again.text


def test_another_patients_offer_and_visit_are_out_of_reach(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    owner = api_client("patient", patient_id="p-001")
    owner.get("/portal/visits")
    offer_id = _offer_id(rt, "p-001")
    other = api_client("patient", patient_id="p-002")

    stolen = other.post("/portal/visits/book", data={"offer": offer_id, "choice": "1"})
    assert stolen.status_code == 422
    assert "offer" in stolen.text
    owner.post("/portal/visits/book", data={"offer": offer_id, "choice": "1"})
    with rt.transaction() as session:
        [booking] = session.scalars(select(AccessBooking)).all()
    assert other.post(f"/portal/visits/{booking.id}/cancel").status_code == 404
    with rt.transaction() as session:
        assert session.get(AccessBooking, booking.id).state == "booked"  # type: ignore[union-attr]
