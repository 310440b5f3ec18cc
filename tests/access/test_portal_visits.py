"""The signed-in portal's visits page on both databases: choices come from the patient's own
offer, a booking there confirms and tells the caregiver who comes along, and one patient can
neither book from nor cancel another's."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from careloop.access.offers import open_offer
from careloop.access.service import find_offers
from careloop.models import AccessBooking, OutboxMessage
from careloop.runtime import Runtime
from tests.access.test_pages import _seed
from tests.outreach.conftest import sync_content

Client = Callable[..., Any]


def book_from_page(client: Any, choice: int = 1) -> Any:
    """Open the visits page and book its ``choice``-th time, as the form does."""
    page = client.get("/portal/visits")
    data: dict[str, Any] = {"choice": str(choice)}
    if offer := re.search(r'name="offer" value="([^"]+)"', page.text):
        data["offer"] = offer.group(1)
    data["shown"] = re.findall(r'name="shown" value="([^"]+)"', page.text)
    return client.post("/portal/visits/book", data=data, follow_redirects=False)


def test_a_patient_books_from_the_visits_page(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")

    page = client.get("/portal/visits")
    assert page.status_code == 200, page.text
    assert "Tuesday 3 March, 3:45 PM" in page.text
    booked = book_from_page(client)

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
    with rt.transaction() as session:
        offers = find_offers(session, patient_id="p-001", now=rt.clock.now())
        offer_id = open_offer(session, offers=offers, patient_id="p-001", now=rt.clock.now()).id
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
