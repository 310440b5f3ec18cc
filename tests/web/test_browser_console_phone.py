"""The console on a 360 px phone and an escalated item's holder, in real headless Chromium
(walk findings 21 and 17)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from playwright.sync_api import expect

from careloop.careteam import alerts
from careloop.clock import FrozenClock
from careloop.feedback.ruleset import Severity
from tests.web.conftest import NOW, Site, sign_in

PHONE = {"width": 360, "height": 740}


def _widths(page: Any, paths: list[str]) -> dict[str, int]:
    """Each page's document width, for those wider than the phone (so sideways scrolling)."""
    wide = {}
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        width = int(page.evaluate("document.documentElement.scrollWidth"))
        if width > PHONE["width"]:
            wide[path] = width
    return wide


def test_every_console_page_fits_a_360px_phone(browser: Any, site: Site) -> None:
    context = browser.new_context(base_url=site.url, viewport=PHONE, is_mobile=True, has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        wide = _widths(page, ["/console/sign-in"])
        sign_in(page, site, "clinician")
        wide |= _widths(
            page,
            [
                "/console/worklist",
                "/console/call-queue",
                "/console/patients",
                f"/console/patients/{site.clinical_patient}",
                f"/console/patients/{site.portal_patient}",
                "/console/programs",
                "/console/appointments",
                "/console/content",
                "/console/content?message=appointment_reminder_1d&language=en",
            ],
        )
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in")
        sign_in(page, site, "admin")
        wide |= _widths(page, ["/console/jobs", "/console/fhir-deliveries", "/console/programs"])
    finally:
        context.close()
    assert wide == {}


def test_an_escalated_task_names_its_lead_and_is_handed_to_a_person(page: Any, site: Site) -> None:
    # Raised before the seed's first reading and escalated at a moment only it is overdue,
    # so no other item of the shared site changes.
    then = FrozenClock(NOW - timedelta(days=44))
    with site.runtime.transaction() as session:
        item = alerts.create_task(
            session,
            patient_id=site.portal_patient,
            rule_id="outreach-transport",
            title="Patient needs a ride to the clinic",
            summary="Replied RIDE to a screening reminder.",
            severity=Severity.HIGH,
            clock=then,
            actor="system:test",
            team="care-coordination",
            due_by=then.now(),
        ).item_id
        assert alerts.escalate_overdue(session, then.now() + timedelta(hours=1)) == [item]

    sign_in(page, site, "coordinator")
    page.goto("/console/worklist?team=care-coordination")
    card = page.locator(f"#item-{item}")
    expect(card.get_by_test_id("card-sla")).to_contain_text(
        "escalated to the care coordination lead"
    )
    expect(card.get_by_test_id("card-assignee")).to_have_text("the care coordination lead")
    card.get_by_label("Give it to").select_option(label="Demo Care Coordinator")
    card.get_by_role("button", name="Assign").click()
    page.wait_for_load_state("load")
    card = page.locator(f"#item-{item}")
    expect(card.get_by_test_id("card-assignee")).to_have_text("Demo Care Coordinator")
    row = page.locator("table tbody tr", has_text="Patient needs a ride")
    expect(row.get_by_test_id("row-assignee")).to_have_text("Demo Care Coordinator")
    card.get_by_label("Outcome").fill("Ride booked for Friday")
    card.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state("load")
    expect(page.locator(f"#item-{item}")).to_have_count(0)
