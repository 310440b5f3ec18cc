"""The portal's medicines page on a phone in Chromium: doses answered, snoozed and paused
(issue #23), with what the patient sees after each press and what was recorded."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import expect
from sqlalchemy import select

from careloop.models import DoseConfirmation, MedicationSlot, PreferenceProfileRow
from tests.medications.conftest import add_resources, medication
from tests.web.conftest import NOW, Site, portal_sign_in, screenshot


def _dose(page: Any, slot: str) -> Any:
    return page.get_by_test_id("dose").filter(has_text=f"metformin 500 MG Oral Tablet · {slot}")


def _default_quiet_hours(site: Site, patient: str) -> None:
    """Another browser test saves quiet hours from 14:00 for this patient; a reminder never
    falls in quiet hours, so the times asserted here need the default night back."""
    with site.runtime.transaction() as session:
        row = session.get(PreferenceProfileRow, patient)
        if row is not None:
            row.stated = {k: v for k, v in (row.stated or {}).items() if k != "quiet_hours"}


def test_patient_answers_snoozes_and_pauses_doses_on_a_phone(phone_page: Any, site: Site) -> None:
    patient = site.portal_patient
    _default_quiet_hours(site, patient)
    add_resources(
        site.runtime, patient, medication("MedicationRequest", f"{patient}-met", when=NOW)
    )
    page = phone_page
    portal_sign_in(page, site)
    page.get_by_role("link", name="Medicines").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("My medicines")
    morning, evening = _dose(page, "morning"), _dose(page, "evening")
    # 10:00 in Boston: the 08:00 dose is due tomorrow unless answered, the 20:00 one tonight.
    expect(evening.get_by_test_id("dose-state")).to_contain_text("Monday 2 March, 8:00 PM")

    with page.expect_navigation():
        morning.get_by_role("button", name="Taken").click()
    expect(page.get_by_role("status")).to_have_text("Thank you. We saved that you took it.")
    expect(_dose(page, "morning").get_by_test_id("dose-state")).to_have_text("Answered for today.")

    with page.expect_navigation():
        _dose(page, "evening").get_by_role("button", name="Later").click()
    expect(page.get_by_role("status")).to_have_text("We will remind you again in 30 minutes.")
    expect(_dose(page, "evening").get_by_test_id("dose-state")).to_contain_text(
        "Monday 2 March, 10:30 AM (snoozed)"
    )
    screenshot(page, "portal-medicines")

    pause = page.get_by_test_id("pause").filter(has_text="metformin")
    pause.get_by_label("Pause reminders until").fill("2026-03-09")
    with page.expect_navigation():
        pause.get_by_role("button", name="Pause reminders").click()
    expect(page.get_by_role("status")).to_have_text("Your reminders are paused.")
    for slot in ("morning", "evening"):
        expect(_dose(page, slot).get_by_test_id("dose-state")).to_have_text(
            "Reminders paused until 2026-03-09."
        )
        expect(_dose(page, slot).get_by_role("button", name="Taken")).to_have_count(0)

    with page.expect_navigation():
        page.get_by_role("button", name="Start reminders again").click()
    expect(page.get_by_role("status")).to_have_text("Your reminders start again.")
    expect(_dose(page, "evening").get_by_role("button", name="Skipped")).to_be_visible()

    with site.runtime.transaction() as session:
        answers = session.execute(
            select(MedicationSlot.slot, DoseConfirmation.answer, DoseConfirmation.channel)
            .join(MedicationSlot, MedicationSlot.id == DoseConfirmation.slot_id)
            .where(DoseConfirmation.patient_id == patient)
            .order_by(DoseConfirmation.id)
        ).all()
    assert [tuple(a) for a in answers] == [
        ("morning", "taken", "portal"),
        ("evening", "later", "portal"),
    ]


def test_a_pause_in_the_past_is_refused_naming_the_day(phone_page: Any, site: Site) -> None:
    patient = site.portal_patient
    add_resources(
        site.runtime, patient, medication("MedicationRequest", f"{patient}-met", when=NOW)
    )
    page = phone_page
    portal_sign_in(page, site)
    page.goto("/portal/medicines")
    headers = json.loads(page.locator("body").get_attribute("hx-headers") or "{}")
    response = page.request.post(
        "/portal/medicines",
        form={"patient": patient, "action": "pause", "until": "2026-03-01"},
        headers=headers,
    )
    assert response.status == 422
    assert "the day must be after today" in response.text()
