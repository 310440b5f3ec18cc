"""A visit cancelled or moved takes its queued messages with it, on both databases (issue 17):
the confirmation, the caregiver's copy and a move offer still queued are dropped (dead,
``visit-changed``) whether the patient cancels in the portal, replies "cancel visit" or "R",
or moves the visit; a portal cancellation asks first and is then confirmed to the patient;
a scheduling link stays open as long as its message says."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from careloop.access.directory import LINK_DAYS, LinkNeed, scheduling_links
from careloop.access.offers import current_offer, offer_by_id
from careloop.access.self_service import book_offered
from careloop.clock import FrozenClock
from careloop.errors import LinkNotUsable
from careloop.models import AccessBooking, AccessOffer, OutboxMessage
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access import test_booking, test_pages
from tests.access.fhir_fixtures import import_resources, schedule, slot
from tests.access.test_portal_visits import Client, book_from_page
from tests.outreach.conftest import sync_content


def _messages(rt: Runtime) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(recipient kind, message) -> (state, dead reason), for the access messages queued."""
    with rt.transaction() as session:
        return {
            (m.recipient_kind, str(m.content_message)): (m.state, m.dead_reason)
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            if not m.idempotency_key.startswith("reply:")
        }


def _only_booking(rt: Runtime) -> AccessBooking:
    with rt.transaction() as session:
        [booking] = session.scalars(select(AccessBooking)).all()
        session.expunge(booking)
        return booking


def test_a_portal_cancel_asks_first_then_drops_the_confirmations_and_says_so(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    test_pages._seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    book_from_page(client)
    booking = _only_booking(rt)
    assert _messages(rt)[("patient", "visit_booked")] == ("queued", None)
    assert _messages(rt)[("caregiver", "caregiver_visit_booked")] == ("queued", None)

    page = client.get("/portal/visits")
    tap = client.post(
        f"/portal/visits/{booking.id}/cancel", data={"patient": "p-001"}, follow_redirects=True
    )  # the first tap (what the page's button used to post) only asks
    assert 'action="/portal/visits"' in page.text  # the button opens the question...
    assert 'name="cancel"' in page.text
    assert "Cancel this visit? The time goes to someone else." in tap.text
    assert "Yes, cancel" in tap.text
    assert "No, keep my visit" in tap.text
    assert _only_booking(rt).state == "booked"

    done = client.post(
        f"/portal/visits/{booking.id}/cancel",
        data={"patient": "p-001", "confirm": "yes"},
        follow_redirects=True,
    )

    assert _only_booking(rt).state == "cancelled"
    assert "Your visit is cancelled." in done.text
    assert "stays booked" not in done.text
    sent = _messages(rt)
    assert sent[("patient", "visit_booked")] == ("dead", "visit-changed")
    assert sent[("caregiver", "caregiver_visit_booked")] == ("dead", "visit-changed")
    assert sent[("patient", "visit_cancelled")] == ("queued", None)
    assert sent[("caregiver", "caregiver_visit_cancelled")] == ("queued", None)


def test_cancelling_while_choosing_a_new_time_shows_no_move_note(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    test_pages._seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    book_from_page(client)
    booking = _only_booking(rt)
    moving = client.post(f"/portal/visits/{booking.id}/move", follow_redirects=True)
    assert 'id="moving-note"' in moving.text

    done = client.post(
        f"/portal/visits/{booking.id}/cancel",
        data={"patient": "p-001", "confirm": "yes"},
        follow_redirects=True,
    )

    assert "Your visit is cancelled." in done.text
    assert "Your visit stays booked until you pick a new time." not in done.text
    with rt.transaction() as session:
        moves = set(session.scalars(select(AccessOffer.state).where(AccessOffer.kind == "move")))
    assert moves == {"withdrawn"}


def test_moving_a_visit_drops_the_old_confirmations(
    rt: Runtime, tmp_path: Path, api_client: Client
) -> None:
    test_pages._seed(rt, tmp_path)
    sync_content(rt)
    client = api_client("patient", patient_id="p-001")
    book_from_page(client)
    old = _only_booking(rt)
    client.post(f"/portal/visits/{old.id}/move")
    with rt.transaction() as session:
        move_offer = session.scalar(select(AccessOffer.id).where(AccessOffer.kind == "move"))
    client.post("/portal/visits/book", data={"offer": move_offer, "choice": "1"})

    with rt.transaction() as session:
        rows = session.execute(
            select(OutboxMessage.idempotency_key, OutboxMessage.state, OutboxMessage.dead_reason)
        ).all()
        new = session.scalar(select(AccessBooking.id).where(AccessBooking.state == "booked"))
    states = {key: (state, reason) for key, state, reason in rows}
    assert states[f"request:visit-booked:{old.id}"] == ("dead", "visit-changed")
    assert states[f"request:visit-booked:{new}"] == ("queued", None)
    old_copies = [v for k, v in states.items() if k.startswith(f"caregiver_visit_booked:{old.id}")]
    new_copies = [v for k, v in states.items() if k.startswith(f"caregiver_visit_booked:{new}")]
    assert old_copies == [("dead", "visit-changed")]
    assert new_copies == [("queued", None)]


def _portal_booking(rt: Runtime, clock: FrozenClock) -> None:
    """The texted offer reaches p-001 (so a reply is theirs), who books it in the portal."""
    test_booking._offer_and_deliver(rt, clock)
    with rt.transaction() as session:
        offer = current_offer(session, patient_id="p-001", now=clock.now())
        assert offer is not None
        book_offered(
            session,
            offer=offer,
            choice=1,
            clock=clock,
            principal=CLI_OPERATOR,
            channel="portal",
            settings=rt.settings,
        )


def test_a_reply_cancel_drops_the_queued_confirmation(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    test_booking._seed(rt, tmp_path)
    _portal_booking(rt, clock)
    assert _messages(rt)[("patient", "visit_booked")] == ("queued", None)

    assert test_booking._reply(rt, clock, "cancel visit", "SM-9") == "visit-cancelled"

    assert _messages(rt)[("patient", "visit_booked")] == ("dead", "visit-changed")
    assert "cancelled" in test_booking._answer(rt, "SM-9")


def test_a_reply_r_drops_the_queued_confirmation(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    test_booking._seed(rt, tmp_path)
    _portal_booking(rt, clock)

    assert test_booking._reply(rt, clock, "R", "SM-9") == "rescheduling"

    assert _messages(rt)[("patient", "visit_booked")] == ("dead", "visit-changed")


def test_a_scheduling_link_stays_open_as_long_as_its_message_says(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    test_pages._seed(rt, tmp_path)
    in_three_weeks = test_pages._utc(24, 20, 45)  # a Tuesday, when the patient can come
    import_resources(
        rt,
        tmp_path / "far",
        [
            schedule("sch-flu", service="flu-shot"),
            slot("s-flu", schedule_id="sch-flu", start=in_three_weeks),
        ],
    )
    need = LinkNeed("flu shot", "flu-shot", "locations")
    with rt.transaction() as session:
        [link] = scheduling_links(
            session, patient_id="p-001", needs=[need], now=clock.now(), settings=rt.settings
        )
    assert link.expires_at == clock.now() + timedelta(days=LINK_DAYS)  # "thirty days"

    clock.advance(timedelta(days=10))  # long after the two days offers by text have
    with rt.transaction() as session:
        assert offer_by_id(session, offer_id=link.offer_id, now=clock.now()).id == link.offer_id

    clock.set(in_three_weeks + timedelta(hours=1))  # its one time has passed: nothing to book
    with rt.transaction() as session, pytest.raises(LinkNotUsable):
        offer_by_id(session, offer_id=link.offer_id, now=clock.now())
