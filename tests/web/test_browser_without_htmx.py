"""Forms work as plain HTML forms before htmx has loaded (progressive enhancement).

A quick tap on a slow phone sends a form before the page's deferred scripts run: a plain
POST with no ``X-CSRF-Token`` header, only the form's fields. It was refused with 403. The
walk below blocks htmx outright, so every form goes the plain way.
"""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from careloop.crypto import signing_key
from careloop.governance.portal import enroll_portal_contact
from careloop.records.service import get_patient_record, list_patients
from tests.medications.conftest import add_resources, medication
from tests.web.conftest import NOW, Site, as_mobile, fresh_code, portal_sign_in, sign_in


def _without_htmx(page: Any) -> None:
    page.route("**/static/htmx.min.js", lambda route: route.abort())


def test_a_patient_saves_a_reading_and_preferences_without_htmx(
    phone_page: Any, site: Site
) -> None:
    page = phone_page
    portal_sign_in(page, site)
    _without_htmx(page)
    page.goto("/portal/readings")
    assert page.evaluate("() => window.htmx === undefined")
    page.get_by_label("Blood pressure, top number (systolic)").fill("136")
    page.get_by_label("Blood pressure, bottom number (diastolic)").fill("84")
    with page.expect_navigation():
        page.get_by_role("button", name="Save reading").click()
    expect(page.get_by_text("Your reading was saved.")).to_be_visible()
    page.goto("/portal/preferences")
    with page.expect_navigation():
        page.get_by_role("button", name="Save my preferences").click()
    expect(page.get_by_text("Your preferences were saved.")).to_be_visible()


def test_a_nurse_signs_out_without_htmx(page: Any, site: Site) -> None:
    sign_in(page, site, "coordinator")
    _without_htmx(page)
    page.goto("/console/worklist")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/sign-in**")
    page.goto("/console/worklist")
    page.wait_for_url("**/console/sign-in**")


def _another_patient_with_medicines(site: Site) -> str:
    """A sample patient no other browser test signs in as (the last English reader with a
    phone), given a medicine so today's check-in is due, and a mobile for the sign-in code:
    their phone."""
    with site.runtime.transaction() as session:
        taken = {site.clinical_patient, site.portal_patient, site.invite_patient}
        for summary in reversed(list_patients(session, limit=200)):
            record = get_patient_record(session, patient_id=summary.id, timeline_limit=0)
            phones = [str(cp.value) for cp in record.contact_points if cp.system == "phone"]
            english = (record.language or "en")[:2] == "en"
            if not summary.deceased and phones and english and summary.id not in taken:
                break
        else:
            raise AssertionError("the sample population has no other patient with a phone")
        as_mobile(session, summary.id)
        enroll_portal_contact(
            session,
            key=signing_key(site.runtime.settings),
            patient_id=summary.id,
            system="sms",
            value=phones[0],
            actor="user:staff",
            clock=site.runtime.clock,
        )
    add_resources(
        site.runtime, summary.id, medication("MedicationRequest", f"{summary.id}-met", when=NOW)
    )
    return phones[0]


def _plain_sign_in(page: Any, site: Site, phone_number: str) -> None:
    page.goto("/portal/sign-in?lang=en")
    before = len(site.code_sender.sent)
    page.get_by_label("Your mobile number or email", exact=True).fill(phone_number)
    page.get_by_role("button", name="Send me a code").click()
    digits = "".join(ch for ch in phone_number if ch.isdigit())
    wanted = "+" + (digits if len(digits) != 10 else "1" + digits)
    page.get_by_label("The 6-digit code").fill(fresh_code(site, wanted, before))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal")


def test_a_patient_answers_the_checkin_without_htmx_on_whole_pages(
    phone_page: Any, site: Site
) -> None:
    # Each plain POST answered the next question as a bare form: no page title, no
    # navigation, no language; now every step is the whole page.
    page = phone_page
    _without_htmx(page)
    _plain_sign_in(page, site, _another_patient_with_medicines(site))
    page.get_by_role("link", name="Start the check-in").click()
    expect(page.get_by_text("Question 1 of 3")).to_be_visible()
    page.get_by_role("radio", name="2").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 2 of 3")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text("Today's check-in")
    expect(page.get_by_role("navigation")).to_be_visible()
    expect(page).to_have_title(re.compile("check-in"))
    assert page.evaluate("document.documentElement.lang") == "en"
    page.get_by_role("radio").first.check()
    with page.expect_navigation():
        page.get_by_role("button", name="Next").click()
    expect(page.get_by_text("Question 3 of 3")).to_be_visible()
    expect(page.get_by_role("navigation")).to_be_visible()
    page.get_by_role("radio", name="Yes").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Send my answers").click()
    expect(page.get_by_text("Your answers were sent to your care team")).to_be_visible()
    # Answered today: thanked, not asked again (on home and on the check-in page).
    page.goto("/portal")
    expect(page.get_by_test_id("checkin-answered")).to_be_visible()
    expect(page.get_by_role("link", name="Start the check-in")).to_have_count(0)
