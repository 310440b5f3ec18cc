"""Every message has a home, seen as the patient sees it: a clinical reminder sent by text
shows only "you have a new message" on the phone, and its full text in the portal inbox."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from playwright.sync_api import expect
from sqlalchemy import select

from careloop.channels.messages import ChannelKind
from careloop.channels.portal import PortalChannel
from careloop.channels.registry import ChannelRegistry
from careloop.clock import FrozenClock
from careloop.compose.worker import build_worker
from careloop.conversations.journeys import run_tick
from careloop.models import OutboxMessage
from careloop.outreach.config import BudgetSettings, OutreachSettings
from careloop.outreach.eligibility import Candidate, ExplicitEligibility
from careloop.outreach.portal_inbox import DatabasePortalInbox
from careloop.outreach.scheduler import TickContext
from tests.outreach.conftest import SCREENING, fake_registry, program
from tests.web.conftest import NOW, Site, portal_sign_in, screenshot

# Each channel's reminder goes out in a week of its own: the shared portal patient has had
# other tests' texts and forms around NOW, and a third contact in a day is rightly held back
# by the contact budget (2 a day, 3 a week), whatever order the tests run in.
OWN_WEEK = {"sms": timedelta(days=10), "voice": timedelta(days=20)}


def _send_clinical_sms(site: Site, channel: str = "sms") -> tuple[str, Any]:
    """Run the mammogram reminder for the portal patient by ``channel`` through the real
    worker; the fake gateway of that channel is returned."""
    rt = site.runtime
    clock = rt.clock
    assert isinstance(clock, FrozenClock)
    clock.set(NOW + OWN_WEEK[channel])
    name = f"inbox-test-{channel}"
    _registry, sms, email, voice, _memory = fake_registry()
    registry = ChannelRegistry(
        {
            ChannelKind.SMS: sms,
            ChannelKind.EMAIL: email,
            ChannelKind.VOICE: voice,
            ChannelKind.PORTAL: PortalChannel(inbox=DatabasePortalInbox(rt)),
        }
    )
    ctx = TickContext(
        clock=clock,
        programs=[program(SCREENING, name=name, actions={"channels": [channel]})],
        eligibility=ExplicitEligibility({name: [Candidate(site.portal_patient, "2026")]}),
        settings=OutreachSettings(budget=BudgetSettings(min_gap_hours=0)),
        seed=11,
    )
    # Other tests' texts to the same patient go out in the same worker run: the minimum gap
    # between contacts would hold this reminder back behind them, whatever the test order.
    unspaced = {"CARELOOP_OUTREACH__BUDGET__MIN_GAP_HOURS": "0"}
    try:
        with rt.transaction() as session:
            run_tick(session, ctx=ctx, now=clock.now())
        clock.advance(timedelta(days=1))
        with patch.dict(os.environ, unspaced):
            worker = build_worker(rt, worker_id="inbox-test", channels=registry)
            worker.sleep = lambda _s: None
            worker.run(once=True)
    finally:
        clock.set(NOW)
    return site.portal_phone, {"sms": sms, "voice": voice}[channel]


def _sent(site: Site, fake: Any, channel: str) -> list[str]:
    """What the gateway of ``channel`` carried for this test's reminder (other tests' queued
    texts go out in the same worker run; the notice's wording depends on the variant)."""
    with site.runtime.transaction() as session:
        keys = set(
            session.scalars(
                select(OutboxMessage.idempotency_key).where(
                    OutboxMessage.program == f"inbox-test-{channel}",
                    OutboxMessage.channel == channel,
                )
            )
        )
    return [m.message.body for m in fake.sent if m.message.idempotency_key in keys]


def test_clinical_text_is_a_notice_and_the_full_message_is_in_the_portal(
    phone_page: Any, site: Site
) -> None:
    _phone, sms = _send_clinical_sms(site)
    [notice_text] = _sent(site, sms, "sms")
    assert "message" in notice_text.lower()
    assert all("mammogra" not in m.message.body.lower() for m in sms.sent)

    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/messages")
    full = page.get_by_test_id("message").filter(has_text="mammogra")
    expect(full.first).to_be_visible()
    notice = page.get_by_test_id("message").filter(has_text=notice_text.split("http")[0][:30])
    expect(notice.first).to_be_visible()
    screenshot(page, "portal-messages")


def test_clinical_call_says_only_there_is_a_message_and_the_portal_has_it(
    phone_page: Any, site: Site
) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/messages")
    full = page.get_by_test_id("message").filter(has_text="mammogra")
    before = full.count()

    _phone, voice = _send_clinical_sms(site, channel="voice")
    calls = _sent(site, voice, "voice")
    assert len(calls) == 1
    assert "message" in calls[0].lower()
    assert "mammogra" not in calls[0].lower()

    page.goto("/portal/messages")
    expect(page.get_by_test_id("message").filter(has_text="mammogra")).to_have_count(before + 1)
