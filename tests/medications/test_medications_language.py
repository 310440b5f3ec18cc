"""A dose reminder for a Chinese reader while the Chinese text still waits for review (and a
Vietnamese one, whose language the library lacks):
the approved English text is sent and the outbox row says why (issue #25, language access).
The render-level rule (a draft translation is never sent) is in tests/content."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from careloop.clock import FrozenClock
from careloop.medications.reminders import send_due_reminders
from careloop.models import OutboxMessage
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication

ZONE = ZoneInfo("America/New_York")
DAY = datetime(2026, 3, 3, 5, 0, tzinfo=ZONE)
NOTE = (
    "Sent in en: the zh text of medication_reminder is not approved yet "
    "(translations wait for human review)."
)


def test_a_language_without_approved_text_gets_english_and_the_row_says_so(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    clock.set(DAY)
    make_patient(rt, patient_id="p-zh", language="zh")
    add_resources(rt, "p-zh", medication("MedicationRequest", "mr-zh", when=DAY))
    at = DAY.replace(hour=8, minute=1)
    clock.set(at)
    with rt.transaction() as session:
        send_due_reminders(session, now=at, clock=rt.clock, settings=rt.settings)
        (sent,) = session.scalars(select(OutboxMessage))
    assert sent.language == "en"
    assert "medicines" in sent.body or "medications" in sent.body
    assert sent.extra["language_note"] == NOTE
    # Staff see it on the patient's page: the fallback is not silent.
    page = api_client("clinician").get("/console/patients/p-zh")
    assert page.status_code == 200, page.text
    assert f"medication reminder: {NOTE}" in page.text


def test_a_language_the_library_lacks_gets_english_and_the_row_says_so(
    rt: Runtime, clock: FrozenClock
) -> None:
    clock.set(DAY)
    make_patient(rt, patient_id="p-vi", language="vi")
    add_resources(rt, "p-vi", medication("MedicationRequest", "mr-vi", when=DAY))
    at = DAY.replace(hour=8, minute=1)
    clock.set(at)
    with rt.transaction() as session:
        send_due_reminders(session, now=at, clock=rt.clock, settings=rt.settings)
        (sent,) = session.scalars(select(OutboxMessage))
    assert sent.language == "en"
    assert sent.extra["language_note"] == "Sent in en: the library has no vi text yet."
