"""A Spanish-speaking patient's full portal visit on a 360 px phone, checked with axe-core
(WCAG 2.1 AA) on every page: Spanish all the way, errors as pages, the right links."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from careloop.crypto import signing_key
from careloop.governance.portal import enroll_portal_contact
from careloop.personalize.service import set_stated_preferences
from careloop.records.service import get_patient_record, list_patients
from tests.web.conftest import Site, as_mobile, fresh_code, screenshot

WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def _axe_violations(page: Any) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=WCAG_AA)
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])})" for v in results.response["violations"]]


@pytest.fixture(scope="module")
def spanish_phone(site: Site) -> str:
    """A third sample patient who reads Spanish and may sign in by text."""
    rt = site.runtime
    with rt.transaction() as session:
        taken = {site.clinical_patient, site.portal_patient, site.invite_patient}
        for patient in list_patients(session, limit=100):
            if patient.deceased or patient.id in taken:
                continue
            record = get_patient_record(session, patient_id=patient.id, timeline_limit=0)
            phone = next(
                (str(c.value) for c in record.contact_points if c.system == "phone" and c.value),
                None,
            )
            if phone:
                break
        else:
            pytest.skip("no third patient with a phone in the sample population")
        as_mobile(session, patient.id)
        enroll_portal_contact(
            session,
            key=signing_key(rt.settings),
            patient_id=patient.id,
            system="sms",
            value=phone,
            actor="user:staff",
            clock=rt.clock,
        )
        set_stated_preferences(
            session,
            clock=rt.clock,
            patient_id=patient.id,
            changes={"language": "es"},
            actor="user:staff",
        )
    return phone


def _sign_in(page: Any, site: Site, phone: str) -> None:
    page.goto("/portal/sign-in?lang=es")
    before = len(site.code_sender.sent)
    page.get_by_label("Su número de celular o correo electrónico", exact=True).fill(phone)
    page.get_by_role("button", name="Envíenme un código").click()
    page.get_by_label("El código de 6 dígitos").fill(fresh_code(site, phone, before))
    page.get_by_role("button", name="Entrar").click()
    page.wait_for_url("**/portal")


def test_spanish_patient_full_visit(browser: Any, site: Site, spanish_phone: str) -> None:
    context = browser.new_context(
        base_url=site.url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        _sign_in(page, site, spanish_phone)
        expect(page.get_by_role("heading", level=1)).to_contain_text("Hola")
        expect(page.locator("html")).to_have_attribute("lang", "es")
        problems["inicio"] = _axe_violations(page)
        screenshot(page, "portal-home-es")

        page.get_by_role("link", name="Mediciones").click()
        page.get_by_label("Presión, número de arriba (sistólica)").fill("abc")
        page.get_by_role("button", name="Guardar medición").click()
        expect(page.get_by_test_id("reading-error")).to_contain_text("en cifras")
        page.get_by_label("Presión, número de arriba (sistólica)").fill("186")
        page.locator("#diastolic").fill("121")
        page.get_by_role("button", name="Guardar medición").click()
        expect(page.get_by_text("Su medición se guardó.")).to_be_visible()
        bottom = page.locator(
            "svg[aria-label^='Tendencia de la presión arterial, número de abajo']"
        )
        expect(bottom).to_be_visible()
        assert "peligro" in (bottom.get_attribute("aria-label") or "")
        expect(bottom.locator(".crisis-marker")).to_have_count(1)
        problems["mediciones"] = _axe_violations(page)
        screenshot(page, "portal-readings-es")

        page.get_by_role("link", name="Control", exact=True).click()
        expect(page.get_by_text("Pregunta 1 de 3")).to_be_visible()
        page.get_by_role("radio", name="2").check()
        page.get_by_role("button", name="Siguiente").click()
        expect(page.get_by_text("Pregunta 2 de 3")).to_be_visible()
        expect(page.get_by_role("radio", name="Se me olvidó")).to_be_visible()
        expect(page.get_by_text("I forgot")).to_have_count(0)
        problems["control"] = _axe_violations(page)

        page.goto("/portal/messages")
        expect(page.get_by_role("heading", level=1)).not_to_contain_text("Messages")
        problems["mensajes"] = _axe_violations(page)

        page.goto("/portal/preferences")
        problems["preferencias"] = _axe_violations(page)

        response = page.goto("/portal/no-existe")
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Página no encontrada")
        problems["error"] = _axe_violations(page)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, f"the page scrolls sideways on a 360 px phone ({width} px)"
    finally:
        context.close()
    assert {page: found for page, found in problems.items() if found} == {}
