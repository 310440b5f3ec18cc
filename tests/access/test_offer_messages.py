"""An offer's message goes only while its times can still be booked, and the links messages
carry open a page that exists, on both databases: a queued offer answered elsewhere, replaced
by a newer one or expired is dropped (dead, ``offer-closed``), never sent."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select

from careloop.access.board import board
from careloop.access.directory import LinkNeed, scheduling_links, send_scheduling_links
from careloop.access.offers import OFFER_HOURS, current_offer
from careloop.access.self_service import book_offered
from careloop.access.sending import send_offer
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.events import EventKind, list_events
from careloop.models import AccessOffer, OutboxMessage
from careloop.outreach.config import OutreachSettings
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR
from tests.access.test_booking import _reply, _seed
from tests.access.test_portal_visits import Client
from tests.outreach.conftest import fake_registry


def _queue(rt: Runtime, clock: FrozenClock) -> int:
    with rt.transaction() as session:
        sent = send_offer(session, patient_id="p-001", clock=clock, settings=rt.settings)
    assert sent.outbox_id is not None, sent.not_queued
    return sent.outbox_id


def _state(rt: Runtime, outbox_id: int) -> tuple[str, str | None]:
    with rt.transaction() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        return row.state, row.dead_reason


def _deliver_due(rt: Runtime, clock: FrozenClock, outbox_id: int) -> list[str]:
    """Run the worker once the message is due; the texts it sent."""
    with rt.transaction() as session:
        row = session.get(OutboxMessage, outbox_id)
        assert row is not None
        clock.set(max(clock.now(), row.due_at))
    registry, sms, *_ = fake_registry()
    worker = build_worker(rt, worker_id="offer-worker", channels=registry)
    worker.sleep = lambda _s: None
    worker.run(once=True)
    return [m.message.body for m in sms.sent]


def test_an_offer_booked_elsewhere_is_not_sent(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    outbox_id = _queue(rt, clock)
    with rt.transaction() as session:  # booked in the portal before the text went
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

    assert _state(rt, outbox_id) == ("dead", "offer-closed")
    assert not any("Visit times" in text for text in _deliver_due(rt, clock, outbox_id))


def test_a_replaced_offer_is_not_sent(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _seed(rt, tmp_path)
    first = _queue(rt, clock)
    clock.advance(timedelta(minutes=1))
    second = _queue(rt, clock)

    assert _state(rt, first) == ("dead", "offer-closed")
    texts = _deliver_due(rt, clock, second)
    assert len([t for t in texts if "Visit times" in t]) == 1
    assert _state(rt, second)[0] == "sent"


def test_an_expired_offer_is_not_sent(rt: Runtime, clock: FrozenClock, tmp_path: Path) -> None:
    _seed(rt, tmp_path)
    outbox_id = _queue(rt, clock)
    clock.advance(timedelta(hours=OFFER_HOURS, minutes=1))  # the worker was down meanwhile

    assert _deliver_due(rt, clock, outbox_id) == []
    assert _state(rt, outbox_id) == ("dead", "offer-closed")


def test_the_links_messages_carry_open_a_page(
    rt: Runtime, clock: FrozenClock, tmp_path: Path, api_client: Client
) -> None:
    _seed(rt, tmp_path)
    [offer_text] = _deliver_due(rt, clock, _queue(rt, clock))
    [signed] = re.findall(r"https?://\S+", offer_text)
    assert api_client(None).get(urlsplit(signed).path).status_code == 200

    assert _reply(rt, clock, "1", "SM-1") == "booked"
    assert _reply(rt, clock, "reschedule", "SM-2") == "rescheduling"
    with rt.transaction() as session:
        answer = session.scalar(
            select(OutboxMessage.body).where(OutboxMessage.idempotency_key == "reply:sms:SM-2")
        )
    assert answer is not None
    urls = re.findall(r"https?://[^\s,]+", answer)
    assert urls, answer
    patient = api_client("patient", patient_id="p-001")
    for url in {*urls, OutreachSettings().booking_link}:
        page = patient.get(urlsplit(url).path.rstrip("."))
        assert page.status_code == 200, url
        assert "Thursday 5 March, 5:00 PM" in page.text  # the new times to pick from
    with rt.transaction() as session:
        kinds = set(session.scalars(select(AccessOffer.kind)))
    assert "portal" not in kinds  # the page showed the texted offer, made none of its own


def test_a_sent_scheduling_link_is_an_offer_sent(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    """A link that went out says so (the console's "Sent"), its queued message is dropped when
    it is used, and it counts as an offer (``slots_offered``) for the report's conversion."""
    _seed(rt, tmp_path)
    need = LinkNeed("mammogram", "mammography", "locations")
    with rt.transaction() as session:
        [link] = scheduling_links(
            session, patient_id="p-001", needs=[need], now=clock.now(), settings=rt.settings
        )
        sent = send_scheduling_links(
            session, patient_id="p-001", links=[link], clock=clock, settings=rt.settings
        )["mammogram"]
    assert sent.outbox_id is not None, sent.not_queued
    with rt.transaction() as session:
        row = session.get_one(AccessOffer, link.offer_id)
        assert row.outbox_id == sent.outbox_id
        [offered] = list_events(session, kinds=[EventKind.SLOTS_OFFERED])
        assert (offered.subject_id, offered.payload["kind"]) == (link.offer_id, "link")
        shown = board(session, now=clock.now())
        assert [o["sent"] for o in shown.offers] == [True]
    with rt.transaction() as session:  # booked from the link before its message left
        book_offered(
            session, offer=session.get_one(AccessOffer, link.offer_id), choice=1, clock=clock,
            principal=CLI_OPERATOR, channel="portal", settings=rt.settings,
        )  # fmt: skip
    assert _state(rt, sent.outbox_id) == ("dead", "offer-closed")


def test_no_slot_that_fits_stores_no_offer_and_queues_nothing(
    rt: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    _seed(rt, tmp_path)
    with rt.transaction() as session:
        sent = send_offer(
            session, patient_id="p-001", clock=clock, settings=rt.settings, service="no-such"
        )
    assert (sent.offer_id, sent.choices, sent.outbox_id, sent.not_queued) == (
        None,
        0,
        None,
        "no-slot-fits",
    )
    with rt.transaction() as session:
        assert session.scalars(select(AccessOffer)).all() == []
        assert session.scalars(select(OutboxMessage)).all() == []
