"""A patient on chemotherapy enters a fever on the portal's readings page, in real Chromium."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from careloop.records.service import get_patient_record
from tests.feedback.loop_payloads import chemotherapy_given, import_resources
from tests.web.conftest import Site, portal_sign_in, screenshot


def test_a_fever_on_chemotherapy_entered_in_fahrenheit_tells_the_patient_to_call_now(
    phone_page: Any, site: Site, tmp_path: Path
) -> None:
    rt = site.runtime
    with rt.transaction() as session:
        fhir_id = get_patient_record(
            session, patient_id=site.portal_patient, timeline_limit=0
        ).sources[0]
    import_resources(rt, tmp_path, chemotherapy_given(fhir_id, rt.clock.now() - timedelta(days=10)))
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/readings")
    unit = page.get_by_label("Temperature unit")
    expect(unit).to_have_value("[degF]")  # an en-US browser reads Fahrenheit
    page.get_by_label("Temperature", exact=True).fill("101.3")
    page.get_by_role("button", name="Save reading").click()
    expect(page.get_by_text("Your reading was saved.")).to_be_visible()
    advice = page.locator(".notice.urgent[role='alert']")
    expect(advice).to_contain_text("A temperature of 100.4 F (38 C) or more")
    expect(advice).to_contain_text("Call your care team now")
    screenshot(page, "portal-fever-advice")
