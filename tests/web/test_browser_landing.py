"""A new user's way in, in Chromium: the root page, a console invitation to the portal,
and portal errors shown as pages in the patient's language."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import expect

from careloop.crypto import signing_key
from careloop.security.rate_limit import Limit
from careloop.web.console.demo_users import seed_demo_portal_contact
from tests.web.conftest import Site, fresh_code, screenshot, sign_in


def test_root_is_a_landing_page_with_the_ways_in(page: Any, site: Site) -> None:
    response = page.goto("/")
    assert response.status == 200
    assert "text/html" in response.headers["content-type"]
    for name in ("Care-team console", "Patient portal", "API documentation", "Health"):
        expect(page.get_by_role("link", name=name)).to_be_visible()
    page.get_by_role("link", name="Patient portal").click()
    page.wait_for_url("**/portal/sign-in**")


def test_coordinator_invites_a_patient_who_then_signs_in(
    page: Any, site: Site, browser: Any
) -> None:
    patient_id = site.invite_patient  # a mobile on the record: a home line takes no texts
    sign_in(page, site, "coordinator")
    page.goto(f"/console/patients/{patient_id}")
    page.get_by_label("Send the sign-in code by").select_option("sms")
    invited = len(site.code_sender.sent)
    page.get_by_role("button", name="Invite to the portal").click()
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("invite-result")).to_contain_text("Invitation sent")
    deadline = time.monotonic() + 10  # the code leaves after the page is answered
    while len(site.code_sender.sent) <= invited and time.monotonic() < deadline:
        time.sleep(0.02)
    channel, to, _code = site.code_sender.sent[-1]
    assert channel in ("sms", "phone")

    phone = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    tab = phone.new_page()
    tab.goto("/portal/sign-in?lang=en")
    before = len(site.code_sender.sent)
    tab.get_by_label("Your mobile number or email", exact=True).fill(to)
    tab.get_by_role("button", name="Send me a code").click()
    tab.get_by_label("The 6-digit code").fill(fresh_code(site, to, before))
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/portal")
    expect(tab.get_by_role("heading", level=1)).to_contain_text("Hello")
    phone.close()


def test_portal_errors_are_pages_in_spanish(phone_page: Any, site: Site) -> None:
    page = phone_page
    page.set_extra_http_headers({"Accept-Language": "es"})
    response = page.goto("/portal/no-such-page")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Página no encontrada")
    expect(page.get_by_role("link", name="Ir a mi página de inicio")).to_be_visible()
    screenshot(page, "portal-error-es")
    # Too many codes for one number: a page that says how long to wait, not JSON.
    site.limiter.set_limit("portal-code", Limit(capacity=1, per_second=1 / 900))
    try:
        page.goto("/portal/sign-in")
        for _ in range(2):
            page.get_by_label("Su número de celular o correo electrónico", exact=True).fill(
                "+15550109999"
            )
            page.get_by_role("button", name="Envíenme un código").click()
            page.wait_for_load_state("load")
            if page.get_by_role("heading", name="Espere un momento").count():
                break
            page.goto("/portal/sign-in")
    finally:
        site.limiter.set_limit("portal-code", Limit(capacity=100, per_second=0.0))
    expect(page.get_by_role("heading", level=1)).to_have_text("Espere un momento")
    expect(page.get_by_test_id("error-text")).to_contain_text("15 minutos")


def test_demo_enrols_a_portal_contact(site: Site) -> None:
    with site.runtime.transaction() as session:
        contact = seed_demo_portal_contact(
            session, site.runtime.clock, key=signing_key(site.runtime.settings)
        )
    assert contact is not None
    assert re.search(r"\d{3}", contact[1])
