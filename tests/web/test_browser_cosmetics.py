"""Small words that read as faults, seen where a user sees them (walk finding 22): a care gap
with nothing after its colon, a visit line ending in a dash, "Text message message"."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from playwright.sync_api import expect

from careloop.cli.demo_run import DEMO_PRINCIPAL
from careloop.compose.outreach import outreach_settings
from careloop.outreach.enrollment import enroll
from careloop.outreach.service import load_outreach_programs
from careloop.records.resources import store_resources
from careloop.records.service import get_patient_record
from careloop.web.portal.i18n import translator
from tests.web.conftest import Site, portal_sign_in, sign_in


def test_a_journey_that_enrols_on_its_own_is_no_care_gap_with_an_empty_reason(
    page: Any, site: Site
) -> None:
    rt = site.runtime
    now = rt.clock.now()
    (reminders,) = load_outreach_programs(
        outreach_settings(rt.settings)[0], names=["appointment-reminders"], with_programs=False
    )
    with rt.transaction() as session:
        enroll(
            session,
            clock=rt.clock,
            program=reminders,
            patient_id=site.clinical_patient,
            episode="cosmetics-visit",
            now=now,
            anchors={"appointment": now + timedelta(days=4)},
        )
    sign_in(page, site, "clinician")
    page.goto(f"/console/patients/{site.clinical_patient}")
    gaps = page.get_by_test_id("care-gaps").locator("li")
    expect(gaps.first).to_be_visible()
    expect(gaps.filter(has_text="appointment-reminders")).to_have_count(0)
    for text in gaps.all_inner_texts():
        assert not re.search(r":\s*$", text), text


def test_a_visit_with_no_service_named_ends_without_a_dash(page: Any, site: Site) -> None:
    rt = site.runtime
    start = rt.clock.now() + timedelta(days=3)
    with rt.transaction() as session:
        record = get_patient_record(session, patient_id=site.portal_patient, timeline_limit=0)
        store_resources(
            session,
            [
                {
                    "resourceType": "Appointment",
                    "id": "cosmetics-unnamed-visit",
                    "status": "booked",
                    "start": start.isoformat(),
                    "end": (start + timedelta(minutes=30)).isoformat(),
                    "participant": [
                        {
                            "actor": {"reference": f"Patient/{record.sources[0]}"},
                            "status": "accepted",
                        }
                    ],
                }
            ],
            clock=rt.clock,
            principal=DEMO_PRINCIPAL,
        )
    portal_sign_in(page, site)
    visits = page.get_by_test_id("appointments").locator("li")
    expect(visits.first).to_be_visible()
    for text in visits.all_inner_texts():
        assert not text.rstrip().endswith("—"), text


@pytest.mark.parametrize("language", ["en", "es", "pt"])
def test_the_inbox_names_the_channel_once(language: str) -> None:
    t = translator(language)
    for channel in ("sms", "email", "voice", "portal"):
        label = t(f"channel_{channel}")
        line = t("message_out", channel=label).lower()
        for word in re.findall(r"\w{4,}", label.lower()):
            assert line.count(word) == 1, line


def test_console_and_portal_pages_ask_for_nothing_the_server_lacks(
    page: Any, phone_page: Any, site: Site
) -> None:
    """A browser asks for a tab icon; without one every page logged a 404 in its console."""
    failed: list[str] = []
    for tab in (page, phone_page):
        tab.on(
            "response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None
        )
    sign_in(page, site, "clinician")
    page.goto("/console/worklist")
    page.wait_for_load_state("networkidle")
    portal_sign_in(phone_page, site)
    phone_page.goto("/portal")
    phone_page.wait_for_load_state("networkidle")
    assert failed == []
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert icon is not None
    assert page.request.get(icon).status == 200
