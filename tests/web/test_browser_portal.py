"""The patient portal in real headless Chromium on a phone-sized screen."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.medications.conftest import add_resources, medication
from tests.web.conftest import NOW, Site, portal_sign_in, screenshot


def test_patient_signs_in_with_a_code_and_answers_the_checkin(phone_page: Any, site: Site) -> None:
    # Today's check-in asks about medicines, so only a patient who takes one is asked (the
    # same MedicationRequest as the medicines page test's: importing it twice is one).
    patient = site.portal_patient
    add_resources(
        site.runtime, patient, medication("MedicationRequest", f"{patient}-met", when=NOW)
    )
    page = phone_page
    portal_sign_in(page, site)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello")
    screenshot(page, "portal-home")
    page.get_by_role("link", name="Start the check-in").click()
    expect(page.get_by_text("Question 1 of 3")).to_be_visible()
    page.get_by_role("radio", name="2").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 2 of 3")).to_be_visible()
    screenshot(page, "portal-checkin")
    page.get_by_role("radio").first.check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 3 of 3")).to_be_visible()
    page.get_by_role("radio", name="Yes").check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_text("Your answers were sent to your care team")).to_be_visible()
    # Answered today: home thanks the patient instead of offering the same questions again,
    # and the check-in page does not ask them.
    page.get_by_role("link", name="Home").first.click()
    expect(page.get_by_test_id("checkin-answered")).to_have_text(
        "You have answered today's check-in. Thank you. The next one comes tomorrow."
    )
    expect(page.get_by_role("link", name="Start the check-in")).to_have_count(0)
    page.goto("/portal/checkin")
    expect(page.get_by_test_id("checkin-answered")).to_be_visible()
    expect(page.get_by_role("radio")).to_have_count(0)


def test_preference_change_is_followed_by_the_next_decision(phone_page: Any, site: Site) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/preferences")
    page.get_by_label("How should we contact you?").select_option("sms")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my preferences").click()
    expect(page.get_by_text("Your preferences were saved.")).to_be_visible()
    before = page.get_by_test_id("next-decision").inner_text()
    page.get_by_label("From", exact=True).fill("14:00")
    page.get_by_label("To", exact=True).fill("09:00")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my preferences").click()
    expect(page.get_by_label("From", exact=True)).to_have_value("14:00")
    after = page.get_by_test_id("next-decision").inner_text()
    # Told to the patient, in the second person (the engine's staff sentence is "she ...").
    assert before.startswith("Next, we plan to send you a text message.")
    assert "This is what you asked for." in before
    assert "Time of day: Afternoon" in before or "Time of day: Evening" in before
    assert "Time of day: Morning" in after or "Time of day: Midday" in after
    screenshot(page, "portal-preferences")


def test_portal_speaks_spanish(phone_page: Any, site: Site) -> None:
    page = phone_page
    page.goto("/portal/sign-in?lang=es")
    expect(page.get_by_role("heading", level=1)).to_have_text("Entrar a Mi cuidado")
    expect(page.get_by_role("button", name="Envíenme un código")).to_be_visible()


def test_patient_enters_a_reading(phone_page: Any, site: Site) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/readings")
    page.get_by_label("Blood pressure, top number (systolic)").fill("138")
    page.get_by_label("Blood pressure, bottom number (diastolic)").fill("86")
    page.get_by_role("button", name="Save reading").click()
    expect(page.get_by_text("Your reading was saved.")).to_be_visible()
    expect(page.locator("svg[aria-label^='Blood pressure trend']").first).to_be_visible()


def test_a_crisis_reading_tells_the_patient_what_to_do_now(phone_page: Any, site: Site) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/readings")
    page.get_by_label("Blood pressure, top number (systolic)").fill("182")
    page.get_by_label("Blood pressure, bottom number (diastolic)").fill("121")
    page.get_by_role("button", name="Save reading").click()
    advice = page.get_by_role("alert")
    expect(advice).to_contain_text("Your blood pressure is very high")
    expect(advice).to_contain_text("call 911")
    expect(page.get_by_text("Your reading was saved.")).to_be_visible()


def test_an_implausible_reading_asks_to_check_it_not_to_type_numbers(
    phone_page: Any, site: Site
) -> None:
    # A systolic of 400 (a slip of the thumb) was answered "Enter both blood pressure
    # numbers, as numbers": the patient had typed numbers.
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/readings")
    page.get_by_label("Blood pressure, top number (systolic)").fill("400")
    page.get_by_label("Blood pressure, bottom number (diastolic)").fill("84")
    page.get_by_role("button", name="Save reading").click()
    expect(
        page.get_by_text(
            "Check both blood pressure numbers and enter them as your device shows them"
            " (for example 128 and 82)."
        )
    ).to_be_visible()
