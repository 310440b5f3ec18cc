"""Staff read a program by its title ("Colorectal cancer screening"), never by its slug
(``colorectal-cancer-screening``), on the worklist, the patient's timeline, the report and
the demo's printout; the slug stays in a tooltip for whoever needs it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.sync_api import expect
from rich.console import Console

from careloop.careteam import alerts
from careloop.cli.demo_run import DemoReport, step_console
from careloop.feedback.ruleset import Severity
from careloop.insights.report_html import render_report_html
from careloop.models import Event
from careloop.outreach.titles import program_title, report_titles
from careloop.records.schemas import ContactPoint
from careloop.web.console.demo_users import phone_in_words
from careloop.web.console.patient_context import describe
from tests.web.conftest import Site, sign_in

AT = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)


def test_the_worklist_names_the_program_by_its_title(page: Any, site: Site) -> None:
    with site.runtime.transaction() as session:
        alerts.create_task(
            session,
            patient_id=site.portal_patient,
            rule_id="outreach-call:win-back-lapsed",
            title="Call the patient: Win back patients who have not been seen",
            summary="2 messages went unanswered; please call.",
            severity=Severity.HIGH,
            clock=site.runtime.clock,
            actor="system:test",
            program="win-back-lapsed",
            team="care-coordination",
        )
    sign_in(page, site, "clinician")
    page.goto("/console/worklist?program=win-back-lapsed")
    table = page.locator("table").first
    cell = table.get_by_text("Win back patients who have not been seen", exact=True).first
    expect(cell).to_be_visible()
    expect(cell).to_have_attribute("title", "win-back-lapsed")
    expect(table).not_to_contain_text("win-back-lapsed")
    option = page.get_by_label("Program").locator("option", has_text="Win back patients")
    expect(option).to_have_attribute("value", "win-back-lapsed")


def test_the_timeline_names_programs_by_their_titles() -> None:
    enrolled = Event(
        kind="enrolled",
        payload={"arm": "outreach"},
        program="breast-cancer-screening",
        occurred_at=AT,
    )
    sent = Event(
        kind="sent",
        payload={"channel": "sms", "step": "invite"},
        program="flu-shot-this-season",
        occurred_at=AT,
    )
    assert describe(enrolled) == "Enrolled in Breast cancer screening (outreach arm)"
    assert describe(sent) == "Sent by text message (Flu shot this season, step invite)"


def test_names_without_a_program_are_put_in_words() -> None:
    """A clinical rule set's or an exam preparation's name has no title of its own."""
    assert program_title("oncology-symptoms") == "Oncology symptoms"
    assert program_title("prep:colonoscopy") == "Colonoscopy prep"
    assert program_title("diabetes-rpm") == "Diabetes remote monitoring"


def test_the_html_report_heads_each_program_with_its_title() -> None:
    program = {
        "program": "win-back-lapsed",
        "reach": {"eligible": 0, "enrolled": 0, "holdout": 0, "contacted": 0},
        "engagement": {"engaged_within_72h": 0},
        "completion": {"completed": 0},
        "opted_out": 0,
        "channels": [],
        "experiment": {"note": "no holdout"},
        "fairness": [],
    }
    report = {
        "period": {"start": "2026-01-01", "end": "2026-03-31"},
        "programs": [program],
        "feedback_loop": {},
    }
    html = render_report_html(report, titles=report_titles(report))
    assert '<h2 id="p1" title="win-back-lapsed">Win back patients who have not been seen</h2>' in (
        html
    )


def test_the_demo_says_what_the_portal_patients_number_is(site: Site) -> None:
    """Synthea's phones are all ``home``, and a sign-in code is never texted to a home line:
    the demo enrols a mobile and says so (it once enrolled a home phone)."""
    console = Console(record=True, width=400)
    step_console(site.runtime, console, DemoReport(database="test"))
    text = console.export_text()
    assert "(their mobile number is on that page)" in text
    assert "home phone" not in text


def test_a_phone_is_named_by_its_line_type_before_its_use() -> None:
    def phone(use: str | None, line_type: str | None = None) -> str:
        point = ContactPoint(system="phone", value="+15550100000", use=use, line_type=line_type)
        return phone_in_words(point)

    assert phone("mobile") == "mobile"
    assert phone("home") == "home phone"
    assert phone("home", "mobile") == "mobile"
    assert phone("home", "landline") == "home landline"
    assert phone("mobile", "landline") == "landline"
    assert phone(None) == "phone"
