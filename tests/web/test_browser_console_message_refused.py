"""A text the console may not send says why in a nurse's words: the patient has a home
phone on file, so "The patient has no address on file for that channel" was not so."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, sign_in


def test_a_text_to_a_patient_with_only_a_home_phone_says_a_text_needs_a_mobile(
    page: Any, site: Site
) -> None:
    sign_in(page, site, "clinician")
    page.goto(f"/console/patients/{site.clinical_patient}")
    page.get_by_label("Message to the patient").fill("Please call the clinic.")
    page.get_by_label("Send by").select_option("sms")
    page.get_by_role("button", name="Send", exact=True).click()

    error = page.get_by_test_id("message-error")
    expect(error).to_contain_text("no mobile number on file")
    expect(error).to_contain_text("add their mobile to the record, or call them")
    expect(error).not_to_contain_text("no address on file")
