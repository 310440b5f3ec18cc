"""The care-team console in real headless Chromium: roles, the worklist, approvals."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from playwright.sync_api import expect

from careloop.compose.jobs import Job, JobRunner
from careloop.runtime import Runtime
from tests.web.conftest import NOW, Site, portal_sign_in, screenshot, sign_in

# After approval the page says so, and how the patient hears of it: a message due at a time
# (the fixture's patient has a home phone only: a call), or a task when none can reach them.
APPROVED = re.compile(
    r"^Plan change approved\. (The patient will be told by (phone call|text message|email|portal"
    r" message) at \d{4}-\d\d-\d\d \d\d:\d\d \w+( · .+)?\.|No message could reach the"
    r" patient: a task to tell them is on the worklist\.)$"
)


def test_each_staff_role_sees_its_own_sections(page: Any, site: Site) -> None:
    expected = {
        "clinician": ["Worklist", "Call queue", "Patients", "Programs", "Appointments", "Content"],
        "coordinator": [
            "Worklist",
            "Call queue",
            "Patients",
            "Programs",
            "Appointments",
            "Content",
        ],
        "analyst": ["Programs", "Content"],
        "admin": ["Programs", "Content", "Jobs", "FHIR deliveries"],
    }
    for role, sections in expected.items():
        sign_in(page, site, role)
        nav = page.get_by_role("navigation", name="Console sections")
        expect(nav.get_by_role("link")).to_have_text(sections)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/console/sign-in")


def test_analyst_cannot_open_a_patient(page: Any, site: Site) -> None:
    sign_in(page, site, "analyst")
    response = page.goto(f"/console/patients/{site.clinical_patient}")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not available to your role")
    expect(page.get_by_text("Blood pressure trend")).to_have_count(0)


def test_wrong_password_shows_the_form_again(page: Any, site: Site) -> None:
    page.goto("/console/sign-in")
    page.get_by_label("Username").fill("demo-clinician")
    page.get_by_label("Password").fill("not the password at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert").filter(has_text="did not work")).to_be_visible()


def test_clinician_walks_the_worklist_and_approves_a_plan_change(page: Any, site: Site) -> None:
    sign_in(page, site, "clinician")
    page.goto("/console/worklist")
    rows = page.locator("table tbody tr")
    expect(rows.first).to_contain_text("urgent")
    expect(rows.first).to_contain_text("crisis")
    screenshot(page, "console-worklist")
    page.get_by_role("link", name=re.compile("Home blood pressure not improving")).click()
    expect(page.get_by_role("heading", name="Readings")).to_be_visible()
    expect(page.locator("svg[aria-label^='Blood pressure trend']").first).to_be_visible()
    expect(page.get_by_test_id("next-decision")).not_to_be_empty()
    screenshot(page, "console-patient")
    crisis = page.locator("article.item", has_text="crisis range")
    crisis.get_by_role("button", name="Acknowledge").click()
    expect(crisis.get_by_role("button", name="Acknowledge")).to_have_count(0)
    expect(page.locator("article.item", has_text="crisis range")).to_contain_text("acknowledged")
    proposal = page.locator("section.proposal").first
    proposal.get_by_label("Note (optional)").fill("Book within two weeks")
    proposal.get_by_role("button", name="Approve plan change").click()
    # The page confirms the approval and says how the patient hears of it (it said nothing).
    expect(page.get_by_test_id("plan-approved")).to_have_text(APPROVED)
    expect(page.get_by_role("heading", name="Plan changes")).to_be_visible()
    expect(page.get_by_test_id("plan-changes").locator("li").first).to_contain_text("approved")
    crisis = page.locator("article.item", has_text="crisis range")
    crisis.get_by_label("Outcome").fill("Called; repeat reading 150/92, no symptoms")
    crisis.get_by_role("button", name="Resolve").click()
    expect(page.locator("article.item", has_text="crisis range")).to_contain_text("resolved")


def test_coordinator_has_no_approve_button_and_is_refused(page: Any, site: Site) -> None:
    sign_in(page, site, "coordinator")
    page.goto(f"/console/patients/{site.clinical_patient}")
    expect(page.get_by_role("heading", name="Alerts and tasks")).to_be_visible()
    expect(page.get_by_role("button", name="Approve plan change")).to_have_count(0)
    csrf = page.locator("body").get_attribute("hx-headers") or ""
    token = re.search(r'"X-CSRF-Token": "([^"]+)"', csrf)
    assert token is not None
    refused = page.request.post(
        "/console/plan-adjustments/1/approve", headers={"X-CSRF-Token": token.group(1)}
    )
    assert refused.status == 403


def test_coordinator_resolves_a_call_task(page: Any, site: Site) -> None:
    sign_in(page, site, "coordinator")
    page.goto("/console/worklist?team=care-coordination")
    task = page.locator("article.item", has_text="call back")
    task.get_by_label("Outcome").fill("Called back; booked the colonoscopy")
    task.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state("load")
    expect(page.locator("article.item", has_text="call back")).to_have_count(0)


def test_programs_and_content_pages_render_charts_and_grades(page: Any, site: Site) -> None:
    sign_in(page, site, "analyst")
    page.goto("/console/programs")
    expect(page.get_by_role("heading", name=re.compile("^Programs"))).to_be_visible()
    screenshot(page, "console-programs")
    page.goto("/console/content?message=appointment_reminder_1d&language=en")
    expect(page.locator("table tbody tr").first).to_contain_text("approved")
    screenshot(page, "console-content")


def test_coordinator_sends_the_patient_a_message(page: Any, site: Site) -> None:
    sign_in(page, site, "coordinator")
    page.goto(f"/console/patients/{site.clinical_patient}")
    page.get_by_label("Message to the patient").fill("Please bring your BP cuff on Friday.")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("conversation")).to_contain_text(
        "Please bring your BP cuff on Friday."
    )


def test_nurse_triages_a_reply_from_card_to_call(page: Any, site: Site, browser: Any) -> None:
    """The patient writes in the portal; the card names them and shows what they wrote."""
    patient = browser.new_context(base_url=site.url, viewport={"width": 360, "height": 740})
    portal = patient.new_page()
    portal_sign_in(portal, site)
    portal.goto("/portal/messages")
    portal.get_by_label("Write to your care team").fill("My ankles are swollen since Tuesday")
    portal.get_by_role("button", name="Send", exact=True).click()
    portal.wait_for_load_state("load")
    patient.close()

    sign_in(page, site, "coordinator")
    page.goto("/console/worklist?team=care-coordination")
    card = page.get_by_test_id("worklist-card").filter(has_text="ankles are swollen")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("card-wrote")).to_contain_text("My ankles are swollen")
    expect(card).not_to_contain_text("reply #")
    expect(card.get_by_test_id("card-patient")).to_contain_text(re.compile(r"\w+ \w+, \d+"))
    expect(card).to_contain_text("Rule outreach-reply")
    expect(card).to_contain_text(re.compile(r"(just now|min ago)"))
    expect(card.get_by_test_id("card-sla")).to_contain_text("left")
    call = card.get_by_test_id("card-call")
    expect(call).to_have_attribute("href", re.compile(r"^tel:"))
    screenshot(page, "console-card")
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state("load")
    acked = page.get_by_test_id("worklist-card").filter(has_text="ankles are swollen")
    expect(acked).to_contain_text("acknowledged")


def test_times_on_the_patient_page_name_their_zone(page: Any, site: Site) -> None:
    sign_in(page, site, "clinician")
    page.goto(f"/console/patients/{site.clinical_patient}")
    stamps = page.locator("ol.timeline time").all_inner_texts()
    assert stamps
    assert all(re.search(r"\d\d:\d\d [A-Z]{2,5}\b", s) for s in stamps)
    expect(page.get_by_test_id("timeline-change").first).to_be_visible()


@contextmanager
def _stored_comparison(site: Site, program: str, **changes: Any) -> Iterator[None]:
    """A policy comparison of ``program`` stored as ``careloop engine compare`` leaves it."""
    from careloop.models import ModelStateRow

    comparison = {
        "program": program,
        "compared_at": "2026-03-01T09:00:00+00:00",
        "candidate_settings": {"sampling_scale": "0.2"},
        "decisions": 640,
        "patients": 80,
        "running": {"value": 0.31, "low": 0.28, "high": 0.34, "ess": 640.0},
        "candidate": {"value": 0.33, "low": 0.27, "high": 0.39, "ess": 210.0},
        "difference": {"value": 0.02, "low": -0.03, "high": 0.07},
        "bootstrap": {"resamples": 1000.0, "share_better": 0.78, "low": -0.03, "high": 0.07},
        "promotable": False,
        "promoted": False,
        "reasons": ["the 95 % interval of the DR difference does not exclude zero"],
        **changes,
    }
    with site.runtime.transaction() as session:
        row = session.get(ModelStateRow, program)
        if row is None:
            row = ModelStateRow(program=program, state={}, version="t", updated_at=NOW)
            session.add(row)
        row.state = {**(row.state or {}), "comparison": comparison}
    try:
        yield
    finally:
        with site.runtime.transaction() as session:
            row = session.get(ModelStateRow, program)
            if row is not None:
                state = dict(row.state)
                state.pop("comparison", None)
                row.state = state


def test_programs_page_shows_the_engine_policy_comparison(page: Any, site: Site) -> None:
    sign_in(page, site, "analyst")
    page.goto("/console/programs")
    program = page.locator("section.card h2").first.get_attribute("title")
    with _stored_comparison(site, program):
        page.goto("/console/programs")
        block = page.locator("details.policy-comparison").first
        expect(block).to_contain_text("sampling_scale=0.2")
        expect(block).to_contain_text("+2.0 points")
        expect(block).to_contain_text("78.0% of 1000 patient resamples")
        expect(block).to_contain_text("Not promotable: the 95 % interval")
        expect(block.get_by_test_id("rate-outside")).to_have_count(0)
        screenshot(page, "console-programs-policy-comparison")


def test_a_reply_rate_below_zero_is_said_to_be_too_little_evidence(page: Any, site: Site) -> None:
    """On 21 decisions the walk's comparison read "Running -1.0 %" with no word on what a
    negative reply rate means (a doubly robust estimate is not bounded to 0-100 %)."""
    sign_in(page, site, "analyst")
    page.goto("/console/programs")
    program = page.locator("section.card h2").first.get_attribute("title")
    small = {"value": -0.010, "low": -0.491, "high": 0.472, "ess": 3.5}
    with _stored_comparison(site, program, running=small, decisions=21, patients=12):
        page.goto("/console/programs")
        block = page.locator("details.policy-comparison").first
        expect(block).to_contain_text("-1.0%")
        expect(block.get_by_test_id("rate-outside")).to_contain_text("too few resolved decisions")


def test_nurse_triages_an_urgent_crisis_reading_from_card_to_call(page: Any, site: Site) -> None:
    """A crisis reading arrives; the nurse's card says who, what was read, which rule and how
    long is left, and its Call button dials the patient; the call's outcome closes it."""
    from careloop.careteam.intake import receive_observation
    from careloop.cli.demo_run import DEMO_PRINCIPAL
    from careloop.records.service import get_patient_record
    from careloop.web.portal.readings import observations_from_form

    rt = site.runtime
    with rt.transaction() as session:
        record = get_patient_record(session, patient_id=site.portal_patient, timeline_limit=0)
        for observation in observations_from_form(
            patient_fhir_id=record.sources[0],
            now=rt.clock.now(),
            systolic="191",
            diastolic="121",
            glucose="",
            weight="",
        ):
            receive_observation(
                session, observation, clock=rt.clock, principal=DEMO_PRINCIPAL, source="device"
            )
    name = " ".join(p for p in (record.given_name, record.family_name) if p)

    sign_in(page, site, "clinician")
    page.goto("/console/worklist")
    card = (
        page.get_by_test_id("worklist-card")
        .filter(has_text="191/121")
        .filter(has=page.locator(".sev-urgent"))
    )
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("card-patient")).to_contain_text(re.compile(rf"{name}, \d+"))
    expect(card.get_by_test_id("card-what")).to_have_text("Blood pressure 191/121 mmHg")
    expect(card).to_contain_text(re.compile(r"Rule bp-crisis · source Observation/"))
    expect(card).to_contain_text("just now")
    expect(card.get_by_test_id("card-sla")).to_contain_text("left")
    call = card.get_by_test_id("card-call")
    digits = "".join(ch for ch in site.portal_phone if ch.isdigit())
    expect(call).to_have_attribute("href", re.compile(rf"^tel:.*{digits[-4:]}$"))
    screenshot(page, "console-urgent-card")
    card.get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state("load")
    card = page.get_by_test_id("worklist-card").filter(has_text="191/121")
    expect(card).to_contain_text("acknowledged")
    card.get_by_label("Outcome").fill("Called; repeat 150/94, no headache, seen today")
    card.get_by_role("button", name="Resolve").click()
    page.wait_for_load_state("load")
    expect(page.get_by_test_id("worklist-card").filter(has_text="191/121")).to_have_count(0)


def test_an_administrator_sees_each_jobs_last_run_next_run_and_failures(
    page: Any, site: Site
) -> None:
    def broken(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        raise ConnectionError("gateway refused the Doe household")

    def fine(_rt: Runtime, _now: datetime) -> dict[str, Any]:
        return {"done": 1}

    JobRunner(
        site.runtime,
        [
            Job("browser-check-broken", timedelta(hours=6), broken),
            Job("browser-check-daily", timedelta(days=1), fine),
        ],
        owner="worker-a",
    ).run_due()
    now = site.runtime.clock.now()
    sign_in(page, site, "admin")
    page.get_by_role("link", name="Jobs").click()
    broken_row = page.locator("#job-browser-check-broken")
    expect(broken_row).to_contain_text("failed (ConnectionError)")
    expect(broken_row).to_contain_text((now + timedelta(minutes=5)).strftime("%Y-%m-%d %H:%M"))
    expect(broken_row.locator("td").nth(4)).to_have_text("1")  # failures
    daily_row = page.locator("#job-browser-check-daily")
    expect(daily_row).to_contain_text(now.strftime("%Y-%m-%d %H:%M"))  # last run
    expect(daily_row).to_contain_text((now + timedelta(days=1)).strftime("%Y-%m-%d %H:%M"))
    expect(page.locator("body")).not_to_contain_text("Doe")  # only the error's class shows


def test_the_patients_bp_chart_rings_the_crisis_reading_and_names_its_unit(
    page: Any, site: Site
) -> None:
    sign_in(page, site, "clinician")
    page.goto(f"/console/patients/{site.clinical_patient}")
    systolic = page.locator("svg[aria-label^='Blood pressure trend, top number']").first
    expect(systolic).to_be_visible()
    expect(systolic).to_have_attribute("aria-label", re.compile(r"mmHg"))
    expect(systolic).to_have_attribute("aria-label", re.compile(r"1 in the crisis range"))
    expect(systolic.locator(".crisis-marker")).to_have_count(1)  # the 186 of the seed
