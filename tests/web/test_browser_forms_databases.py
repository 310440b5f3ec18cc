"""Forms signed on a 360 px phone in Chromium, on SQLite and on PostgreSQL (issue 25, item 6).

The suite's seeded site is a SQLite file; this test serves careloop on each backend's database
(the ``rt`` fixture) and signs two forms on a phone-sized page: a consent with a drawn
signature and a questionnaire with a typed one. What the record keeps is read back: the four
FHIR resources, the Provenance signature and the SHA-256 of exactly the signed bytes.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import expect

from careloop.crypto import signing_key
from careloop.forms.service import FormState, forms_of, link_token, send_form
from careloop.forms.signing import SHA256_EXTENSION
from careloop.records.resources import get_resource
from careloop.runtime import Runtime
from careloop.security.principal import SYSTEM_WORKER
from careloop.web.app import create_app
from tests.digitaltools.tools_fixtures import consent_and_content, import_patients
from tests.digitaltools.tools_fixtures import reachable_patient as patient_resource
from tests.web.conftest import CHROMIUM, _free_port

BIRTH_DATE = "1968-04-02"  # reachable_patient's

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs /usr/bin/chromium")


@pytest.fixture
def served(rt: Runtime, tmp_path: Path) -> Iterator[str]:
    """careloop on this backend's database, one patient who can be reached by text."""
    import_patients(rt, tmp_path, [[patient_resource("ana", phone="+15550100081")]])
    consent_and_content(rt, ["ana"])
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(rt), host="127.0.0.1", port=port, log_level="warning",
                       lifespan="off")
    )  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def phone(browser: Any, served: str) -> Iterator[Any]:
    context = browser.new_context(
        base_url=served, viewport={"width": 360, "height": 740}, device_scale_factor=2,
        is_mobile=True, has_touch=True,
    )  # fmt: skip
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _link(rt: Runtime, form: str) -> str:
    with rt.transaction() as session:
        sent = send_form(
            session, patient_id="ana", form_id=form, clock=rt.clock, settings=rt.settings,
            principal=SYSTEM_WORKER,
        )  # fmt: skip
    assert sent.outbox_id is not None
    return f"/portal/forms/{link_token(signing_key(rt.settings), sent.request_id)}"


def _draw(page: Any) -> None:
    pad = page.get_by_test_id("signature-pad")
    pad.scroll_into_view_if_needed()  # the mouse draws in the viewport: below it draws nothing
    box = pad.bounding_box()
    x, y = box["x"] + 15, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 10):
        page.mouse.move(x + step * 25, y + (15 if step % 2 else -15), steps=3)
    page.mouse.up()


def _fits_the_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page is {width} px wide on a 360 px phone"


def _signed(rt: Runtime) -> dict[str, dict[str, Any]]:
    """The kept resources of each signed form, by form id."""
    kept: dict[str, dict[str, Any]] = {}
    with rt.transaction() as session:
        for row in forms_of(session, patient_id="ana"):
            assert row.state == FormState.SIGNED, row.form
            resources = {}
            for ref in row.signed_resources or []:
                rtype, fhir_id = ref.split("/")
                resources[rtype] = get_resource(session, resource_type=rtype, fhir_id=fhir_id)
            kept[row.form] = resources
    return kept


def test_forms_are_signed_drawn_and_typed_on_a_phone_on_either_database(
    rt: Runtime, phone: Any
) -> None:
    consent, questionnaire = _link(rt, "consent-treatment"), _link(rt, "what-matters")

    phone.goto(consent)
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Consent to care and to text messages"
    )
    _fits_the_phone(phone)
    phone.get_by_label("I have read this and I agree.").check()
    phone.get_by_label("Your date of birth").fill(BIRTH_DATE)
    phone.get_by_label("Type your full name").fill("Test Ana")
    _draw(phone)
    phone.get_by_role("button", name="Sign and send").click()
    expect(phone.get_by_test_id("form-signed")).to_be_visible()

    phone.goto(questionnaire)
    expect(phone.get_by_role("heading", level=1)).to_have_text("What matters to you")
    _fits_the_phone(phone)
    phone.get_by_label("What is the one thing you most want").fill("Fewer trips to the clinic")
    phone.locator("input[name='prefer-contact']").first.check()
    phone.get_by_label("Your date of birth").fill(BIRTH_DATE)
    phone.get_by_label("Type your full name").fill("Test Ana")
    phone.get_by_role("button", name="Sign and send").click()
    expect(phone.get_by_test_id("form-signed")).to_be_visible()

    kept = _signed(rt)
    assert set(kept["consent-treatment"]) == {
        "QuestionnaireResponse", "Consent", "DocumentReference", "Provenance",
    }  # fmt: skip
    assert set(kept["what-matters"]) == {"QuestionnaireResponse", "DocumentReference", "Provenance"}
    drawn = kept["consent-treatment"]["Provenance"]["signature"][0]
    typed = kept["what-matters"]["Provenance"]["signature"][0]
    assert (drawn["sigFormat"], typed["sigFormat"]) == ("image/png", "text/plain")
    assert base64.b64decode(drawn["data"]).startswith(b"\x89PNG")
    for form, signature in (("consent-treatment", drawn), ("what-matters", typed)):
        document = kept[form]["DocumentReference"]["content"][0]["attachment"]["data"]
        signed_bytes = base64.b64decode(document)
        assert "Signed by: Test Ana" in signed_bytes.decode()
        assert signature["when"]
        assert signature["who"]["reference"] == "Patient/ana"
        assert signature["extension"] == [
            {"url": SHA256_EXTENSION, "valueString": hashlib.sha256(signed_bytes).hexdigest()}
        ]
    answers = kept["what-matters"]["QuestionnaireResponse"]["item"]
    assert any(
        a.get("valueString") == "Fewer trips to the clinic" for i in answers for a in i["answer"]
    )
