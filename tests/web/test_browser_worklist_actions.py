"""Worklist actions as staff use them in Chromium: an assignment shows at once (the POST
ends in a fresh page, not the one from before), and an urgent alert's card says who may act
on it when the viewer may not, on the worklist and on the patient page it links to."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from careloop.careteam import alerts
from careloop.feedback.evaluate import Finding
from careloop.feedback.ruleset import Severity
from tests.web.conftest import Site, sign_in


def _urgent_alert(site: Site, rule: str) -> int:
    """A febrile-neutropenia alert escalated into the oncology nurses' lead queue."""
    finding = Finding(
        rule_id=rule,
        title="Fever during chemotherapy (possible febrile neutropenia)",
        severity=Severity.URGENT,
        sla_hours=1,
        patient_id=site.clinical_patient,
        summary="Temperature 38.6 C reported during chemotherapy.",
        values={},
        evidence=("temperature 38.6 C",),
        program="oncology-symptom-checkin",
        team="oncology-nursing",
        source="checkin",
    )
    with site.runtime.transaction() as session:
        raised = alerts.raise_finding(session, finding, clock=site.runtime.clock, actor="test")
        alerts.get_item(session, raised.item_id).assignee = "lead:oncology-nursing"
        return raised.item_id


def test_an_assignment_shows_on_the_page_the_post_returns(page: Any, site: Site) -> None:
    item = _urgent_alert(site, "test-fn-assign")
    sign_in(page, site, "clinician")
    page.goto(f"/console/patients/{site.clinical_patient}#item-{item}")
    card = page.locator(f"#item-{item}")
    expect(card.get_by_test_id("card-assignee")).to_have_text("the oncology nursing lead")

    card.get_by_label("Give it to").select_option(label="Dr. Demo Clinician")
    card.get_by_role("button", name="Assign").click()

    expect(page.locator(f"#item-{item}").get_by_test_id("card-assignee")).to_have_text(
        "Dr. Demo Clinician"
    )
    expect(page.locator(f"#item-{item}").get_by_role("button", name="Acknowledge")).to_be_visible()


def test_a_coordinator_is_told_who_acts_on_an_urgent_alert(page: Any, site: Site) -> None:
    item = _urgent_alert(site, "test-fn-coordinator")
    sign_in(page, site, "coordinator")
    page.goto("/console/worklist")
    page.locator(f'a[href$="#item-{item}"]').click()

    card = page.locator(f"#item-{item}")
    expect(card.get_by_test_id("card-who-acts")).to_have_text(
        "A clinician acknowledges, assigns and resolves this alert."
    )
    expect(card.get_by_role("button", name="Resolve")).to_have_count(0)
    expect(card.get_by_role("link", name="Text")).to_be_visible()


def test_an_assignment_on_the_worklist_shows_in_its_row_and_card(page: Any, site: Site) -> None:
    item = _urgent_alert(site, "test-fn-assign-worklist")
    sign_in(page, site, "clinician")
    page.goto("/console/worklist")
    card = page.locator(f"#item-{item}")

    card.get_by_label("Give it to").select_option(label="Dr. Demo Clinician")
    card.get_by_role("button", name="Assign").click()

    expect(page.locator(f"#item-{item}").get_by_test_id("card-assignee")).to_have_text(
        "Dr. Demo Clinician"
    )
