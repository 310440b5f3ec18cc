"""In Chromium, an old link to a patient or a mangled address shows a console page in words
with the console's navigation (it showed the raw JSON the API answers)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, sign_in


def test_a_nurse_following_a_dead_link_reads_a_page_not_json(page: Any, site: Site) -> None:
    sign_in(page, site, "clinician")

    answer = page.goto("/console/patients/0000-not-a-patient")

    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_test_id("error-detail")).to_have_text("No such patient.")
    expect(page.get_by_role("navigation", name="Console sections")).to_be_visible()
    page.get_by_role("link", name="Back to the console").click()
    page.wait_for_url("**/console/worklist**")

    answer = page.goto("/console/worklist?page=two")

    assert answer is not None
    assert answer.status == 422
    expect(page.get_by_role("heading", name="This address could not be read")).to_be_visible()
    expect(page.locator("body")).not_to_contain_text('"error"')
