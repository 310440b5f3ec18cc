"""A Portuguese and a Chinese patient of the sample population walk their portal on a 360 px
phone whose browser asks for English (walk findings 8, 14 and 15; issue 25): every part is
in their language, language names are their own, the next decision speaks to them, a
check-in asks only what fits, and a queued message or confirmation reads as scheduled."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from careloop.crypto import signing_key
from careloop.governance.portal import enroll_portal_contact
from careloop.medications.service import has_active_medicines
from careloop.outreach.outbox import NewMessage, enqueue
from careloop.outreach.states import OutboxState
from careloop.records.service import get_patient_record, list_patients
from tests.access.fhir_fixtures import import_resources, location, make_due, schedule, slot
from tests.web.conftest import NOW, Site, as_mobile, fresh_code

ENDONYMS = ["English", "Español", "Português", "中文 (简体)"]


@pytest.fixture
def phone(browser: Any, site: Site) -> Iterator[Any]:
    """A 360 px phone whose browser prefers English: the page must follow the patient."""
    context = browser.new_context(
        base_url=site.url,
        viewport={"width": 360, "height": 740},
        is_mobile=True,
        has_touch=True,
        locale="en-US",
        extra_http_headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def _patient(site: Site, language: str) -> tuple[str, str, bool]:
    """A living patient whose record prefers ``language``, made able to sign in: their id,
    their phone and whether they take a medicine now."""
    with site.runtime.transaction() as session:
        for summary in list_patients(session, limit=200):
            record = get_patient_record(session, patient_id=summary.id, timeline_limit=0)
            phones = [cp.value for cp in record.contact_points if cp.system == "phone"]
            if summary.deceased or not phones or (record.language or "")[:2] != language:
                continue
            as_mobile(session, summary.id)
            enroll_portal_contact(
                session,
                key=signing_key(site.runtime.settings),
                patient_id=summary.id,
                system="sms",
                value=str(phones[0]),
                actor="user:staff",
                clock=site.runtime.clock,
            )
            meds = has_active_medicines(session, patient_id=summary.id)
            return summary.id, str(phones[0]), meds
    raise AssertionError(f"the sample population has no {language} patient with a phone")


def _sign_in(page: Any, site: Site, phone_number: str) -> None:
    page.goto("/portal/sign-in")
    before = len(site.code_sender.sent)
    page.get_by_label("Your mobile number or email", exact=True).fill(phone_number)
    page.get_by_role("button", name="Send me a code").click()
    page.get_by_label("The 6-digit code").wait_for()
    digits = "".join(ch for ch in phone_number if ch.isdigit())
    wanted = "+" + (digits if len(digits) != 10 else "1" + digits)
    page.get_by_label("The 6-digit code").fill(fresh_code(site, wanted, before))
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal")


def _fits(page: Any) -> None:
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def _queue(
    site: Site,
    patient_id: str,
    key: str,
    *,
    state: OutboxState,
    hours: int,
    language: str = "pt",
) -> None:
    with site.runtime.transaction() as session:
        row = enqueue(
            session,
            message=NewMessage(
                idempotency_key=key,
                patient_id=patient_id,
                purpose="care-reminders",
                channel="sms",
                to_address="+15550100000",
                body=f"Texto de teste {key}.",
                due_at=NOW + timedelta(hours=hours),
                language=language,
            ),
            now=NOW,
        )
        assert row is not None
        row.state = state


def test_a_portuguese_patient_reads_the_portal_in_portuguese(
    phone: Any, site: Site, tmp_path: Path
) -> None:
    patient_id, number, takes_medicines = _patient(site, "pt")
    assert takes_medicines  # the sample's Portuguese speaker has a medicine plan
    _sign_in(phone, site, number)
    expect(phone.locator("html")).to_have_attribute("lang", "pt")

    # Preferences: the next decision is told to "você", in Portuguese; languages by their names.
    phone.goto("/portal/preferences")
    decision = phone.get_by_test_id("next-decision").inner_text()
    assert decision.startswith("Em seguida, vamos"), decision
    assert not any(word in decision for word in ("she ", "he ", "answered", "Morning"))
    options = phone.locator("#language option").all_inner_texts()
    assert options[1:] == ENDONYMS
    _fits(phone)

    # Today's check-in: a Portuguese title, not "Taking your medicines (self-report)".
    phone.goto("/portal/checkin")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Acompanhamento de hoje")
    expect(phone.get_by_text("Como você toma seus remédios")).to_be_visible()
    expect(phone.get_by_text("(self-report)")).to_have_count(0)

    # The motivation questions run under their own heading, in Portuguese.
    phone.goto("/portal/preferences")
    phone.get_by_test_id("motivation-link").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("O que mais importa para você")
    expect(phone.get_by_text("Acompanhamento de hoje")).to_have_count(0)
    phone.get_by_role("radio", name="Estar presente para a minha família").check()
    phone.get_by_role("button", name="Próxima").click()
    expect(phone.get_by_text("O que faria você marcar um check-up?")).to_be_visible()
    phone.get_by_role("radio", name="Saber que a minha família quer isso").check()
    phone.get_by_role("button", name="Próxima").click()
    expect(phone.get_by_text("Qual lembrete faria você agir primeiro?")).to_be_visible()
    expect(phone.get_by_role("radio", name="Um que deixe tudo fácil")).to_be_visible()
    _fits(phone)

    # A page that does not exist: in Portuguese, though the browser asks for English.
    phone.goto("/portal/no-such-page")
    expect(phone.get_by_role("heading", level=1)).to_have_text("Página não encontrada")

    # Messages: a text still queued reads as scheduled; one that will never leave is not shown.
    _queue(site, patient_id, "pt-walk-queued", state=OutboxState.QUEUED, hours=3)
    _queue(site, patient_id, "pt-walk-dead", state=OutboxState.DEAD, hours=1)
    phone.goto("/portal/messages")
    queued = phone.get_by_test_id("message").filter(has_text="pt-walk-queued")
    expect(queued.get_by_test_id("scheduled")).to_have_text(
        "Vamos mandar uma mensagem de texto para você na segunda-feira, 2 de março, 13:00"
    )
    expect(queued).not_to_contain_text("Enviamos")
    expect(phone.get_by_text("pt-walk-dead")).to_have_count(0)
    _fits(phone)

    # Booking: the confirmation waits in the outbox (no worker here), so it is not "sent".
    import_resources(
        site.runtime,
        tmp_path,
        [
            location(),
            schedule("pt-walk", service="flu-shot"),
            slot("pt-walk-1", schedule_id="pt-walk", start=NOW + timedelta(days=6, hours=1)),
        ],
    )
    make_due(site.runtime, patient_id, "flu-shot-this-season")  # the portal offers what is due
    phone.goto("/portal/visits")
    phone.get_by_role("radio").first.check()
    phone.get_by_role("button", name="Marcar este horário").click()
    # Booking runs the engine for the confirmation: slow on a loaded machine, so wait longer.
    expect(phone.get_by_text("Sua consulta está marcada.")).to_be_visible(timeout=30_000)
    confirmation = phone.get_by_test_id("confirmation").inner_text()
    # By text, call or portal as the engine picks (the booking id seeds it): always a time.
    assert not confirmation.startswith("Enviamos"), confirmation
    assert "confirma" in confirmation
    assert re.search(r" n[ao] \w[\w-]*, \d+ de \w+, \d{1,2}:\d{2}", confirmation), confirmation
    _fits(phone)


def test_a_chinese_patient_without_medicines_is_not_asked_about_missed_doses(
    phone: Any, site: Site
) -> None:
    patient_id, number, takes_medicines = _patient(site, "zh")
    assert not takes_medicines
    _sign_in(phone, site, number)
    expect(phone.locator("html")).to_have_attribute("lang", "zh-Hans")

    expect(phone.get_by_test_id("no-checkin")).to_have_text(
        "您今天没有需要完成的随访。有随访时我们会通知您。"
    )
    phone.goto("/portal/checkin")
    expect(phone.get_by_test_id("no-checkin")).to_be_visible()
    expect(phone.get_by_text("漏服")).to_have_count(0)
    expect(phone.get_by_role("radio")).to_have_count(0)

    phone.goto("/portal/preferences")
    decision = phone.get_by_test_id("next-decision").inner_text()
    assert decision.startswith("接下来，我们打算"), decision
    assert "she" not in decision
    assert phone.locator("#language option").all_inner_texts()[1:] == ENDONYMS
    phone.get_by_test_id("motivation-link").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("对您最重要的是什么")
    expect(phone.get_by_text("想到自己的健康时，您最在意的是什么？")).to_be_visible()
    expect(phone.get_by_role("radio", name="能陪伴和照顾家人")).to_be_visible()
    _fits(phone)

    phone.goto("/portal/no-such-page")
    expect(phone.get_by_role("heading", level=1)).to_have_text("找不到页面")

    # Chinese text awaits review, so messages go in English: the inbox says why, in Chinese.
    _queue(site, patient_id, "zh-walk-sent", state=OutboxState.SENT, hours=-2, language="en")
    phone.goto("/portal/messages")
    sent = phone.get_by_test_id("message").filter(has_text="zh-walk-sent")
    expect(sent.get_by_test_id("language-note")).to_have_text(
        "这条消息是英文的：中文版本还在等待审核。"
    )
    expect(sent.locator("p[lang=en]")).to_have_count(1)
    _fits(phone)
