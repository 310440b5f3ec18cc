"""The console on a 360 px phone, in real headless Chromium (walk finding 21)."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import Site, sign_in

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
