"""The motivation check-in in real headless Chromium on a phone: three taps, then the patient's
stated framing and psychographic segment follow from the answers (issue 25 item 3)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from careloop.personalize.service import get_profile, set_stated_preferences
from careloop.programs.segments.service import segment_membership
from tests.web.conftest import Site, portal_sign_in


def test_patient_says_what_matters_most_in_three_taps(phone_page: Any, site: Site) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/preferences")
    page.get_by_test_id("motivation-link").click()
    expect(
        page.get_by_text("What matters most to you when you think about your health?")
    ).to_be_visible()
    expect(page.get_by_text("Question 1 of 3")).to_be_visible()
    page.get_by_role("radio", name="Being there for my family").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 2 of 3")).to_be_visible()
    page.get_by_role("radio", name="Knowing my family wants me to").check()
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 3 of 3")).to_be_visible()
    page.get_by_role("radio", name="One that makes it easy").check()
    page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_text("Your answers were sent to your care team")).to_be_visible()

    rt = site.runtime
    with rt.transaction() as session:
        framing = get_profile(session, patient_id=site.portal_patient).stated.framing
        segments = segment_membership(
            session, names=["motivated-by-family", "motivated-by-convenience"],
            patient_ids=[site.portal_patient], now=rt.clock.now(),
        )  # fmt: skip
        # the site is shared: the stated framing goes back to unset for the other tests
        set_stated_preferences(
            session, clock=rt.clock, patient_id=site.portal_patient, changes={"framing": None},
            actor="test",
        )  # fmt: skip
    assert framing == "social"
    assert segments == {site.portal_patient: {"motivated-by-family"}}


def test_the_motivation_questions_speak_spanish(phone_page: Any, site: Site) -> None:
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/checkin?form=motivation&lang=es")
    expect(
        page.get_by_text("¿Qué es lo que más le importa cuando piensa en su salud?")
    ).to_be_visible()
    expect(page.get_by_role("radio", name="Estar presente para mi familia")).to_be_visible()
