"""In Chromium: a nurse proposes a plan change on a patient's page, the coordinator sees it
awaiting a clinician, a clinician approves it on the worklist and is told how the patient
hears of it; the card names who proposed it, and no page logs an error."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.web.conftest import Site, sign_in

REASON = "Symptom diary daily during cycle 3 (mouth sores)"


def test_a_nurse_proposes_and_a_clinician_approves(browser: Any, site: Site) -> None:
    errors: list[str] = []

    def tab(role: str) -> Any:
        context = browser.new_context(base_url=site.url, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        sign_in(page, site, role)
        return page

    nurse = tab("nurse")
    nurse.goto(f"/console/patients/{site.clinical_patient}")
    nurse.get_by_label("Propose a change to").select_option("symptom_diary")
    nurse.get_by_label("What to change, and why").fill(REASON)
    nurse.get_by_role("button", name="Propose for a clinician's approval").click()
    expect(nurse.get_by_test_id("propose-result")).to_contain_text("waits on the worklist")
    card = nurse.locator("article.item").filter(has_text=REASON)
    expect(card.get_by_test_id("own-proposal")).to_be_visible()
    expect(card.get_by_role("button", name="Approve plan change")).to_have_count(0)

    coordinator = tab("coordinator")
    coordinator.goto("/console/worklist")
    card = coordinator.locator("article.item").filter(has_text=REASON)
    expect(card.get_by_test_id("proposed-by")).to_have_text("Proposed by Demo Oncology Nurse, RN")
    expect(card.get_by_role("button", name="Approve plan change")).to_have_count(0)

    clinician = tab("clinician")
    clinician.goto("/console/worklist")
    proposal = clinician.get_by_role("region").filter(has_text=REASON)
    proposal.get_by_role("button", name="Approve plan change").click()
    expect(clinician.get_by_test_id("plan-approved")).to_contain_text("Plan change approved.")
    clinician.goto(f"/console/patients/{site.clinical_patient}")
    expect(clinician.get_by_test_id("plan-changes")).to_contain_text(
        "symptom diary · proposed by Demo Oncology Nurse, RN · approved by Dr. Demo Clinician"
    )
    assert errors == []
