"""A consent form sent from the patient view, signed with a finger on a phone-sized page."""

from __future__ import annotations

import base64
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from careloop.crypto import signing_key
from careloop.forms.service import link_token
from careloop.models import FormRequest, Patient
from careloop.records.resources import get_resource
from tests.web.conftest import Site, screenshot, sign_in


def _draw(page: Any) -> None:
    box = page.get_by_test_id("signature-pad").bounding_box()
    x, y = box["x"], box["y"] + box["height"] / 2
    page.mouse.move(x + 20, y)
    page.mouse.down()
    for step in range(1, 12):
        page.mouse.move(x + 20 + step * 22, y + (18 if step % 2 else -18), steps=3)
    page.mouse.up()


def test_a_consent_is_drawn_and_signed_on_a_phone_and_shown_in_the_patient_view(
    page: Any, phone_page: Any, site: Site
) -> None:
    patient_url = f"/console/patients/{site.portal_patient}"
    sign_in(page, site, "clinician")
    page.goto(patient_url)
    page.get_by_label("Send a form to sign on the phone").select_option("consent-treatment")
    page.get_by_role("button", name="Send the form").click()
    expect(page.get_by_test_id("forms-result")).to_be_visible()
    with site.runtime.transaction() as session:
        row = session.scalars(
            select(FormRequest).where(FormRequest.patient_id == site.portal_patient)
        ).one()
        patient = session.get(Patient, site.portal_patient)
        assert patient is not None
        assert patient.birth_date is not None
        birth_date = patient.birth_date.isoformat()
        token = link_token(signing_key(site.runtime.settings), row.id)

    phone = phone_page
    phone.goto(f"/portal/forms/{token}?lang=en")
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Consent to care and to text messages"
    )
    phone.get_by_label("I have read this and I agree.").check()
    phone.get_by_label("Your date of birth").fill(birth_date)
    phone.get_by_label("Type your full name").fill("Pat Example")
    _draw(phone)
    screenshot(phone, "portal-form-sign")
    phone.get_by_role("button", name="Sign and send").click()
    expect(phone.get_by_test_id("form-signed")).to_be_visible()

    with site.runtime.transaction() as session:
        row = session.scalars(
            select(FormRequest).where(FormRequest.patient_id == site.portal_patient)
        ).one()
        assert row.state == "signed"
        provenance_id = next(r for r in row.signed_resources or [] if r.startswith("Provenance/"))
        provenance = get_resource(
            session, resource_type="Provenance", fhir_id=provenance_id.split("/")[1]
        )
    assert provenance is not None
    [signature] = provenance["signature"]
    assert signature["sigFormat"] == "image/png"
    assert base64.b64decode(signature["data"]).startswith(b"\x89PNG")

    page.goto(patient_url)
    page.get_by_text("What was signed").click()
    expect(page.get_by_test_id("signed-document")).to_contain_text("Signed by: Pat Example")
    expect(page.get_by_test_id("signature-image")).to_be_visible()
