"""Forms work as plain HTML forms before htmx has loaded (progressive enhancement).

A quick tap on a slow phone sends a form before the page's deferred scripts run: a plain
POST with no ``X-CSRF-Token`` header, only the form's fields. It was refused with 403. The
walk below blocks htmx outright, so every form goes the plain way.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, portal_sign_in, sign_in


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
