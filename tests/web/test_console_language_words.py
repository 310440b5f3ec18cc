"""A nurse opens the page of a patient who reads Chinese (walk9, the demo console): the
record's language reads as a name ("Chinese (zh)", not "zh"), and the note that her reminders
went out in English is said once with how many messages it covers, not once per message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from careloop.clock import FrozenClock
from careloop.medications.reminders import send_due_reminders
from careloop.runtime import Runtime
from tests.medications.conftest import add_resources, make_patient, medication
from tests.medications.test_medications_language import DAY, NOTE


def test_the_patient_page_names_the_language_and_says_each_language_note_once(
    rt: Runtime, clock: FrozenClock, api_client: Any
) -> None:
    clock.set(DAY)
    make_patient(rt, patient_id="p-zh", language="zh")
    add_resources(rt, "p-zh", medication("MedicationRequest", "mr-zh", when=DAY))
    for day in range(3):
        at = DAY.replace(hour=8, minute=1) + timedelta(days=day)
        clock.set(at)
        with rt.transaction() as session:
            send_due_reminders(session, now=at, clock=rt.clock, settings=rt.settings)
    page = api_client("clinician").get("/console/patients/p-zh")
    assert page.status_code == 200, page.text
    assert "<dt>Language</dt><dd>Chinese (zh)</dd>" in page.text
    assert page.text.count(NOTE) == 1
    assert f"medication reminder: {NOTE} (3 messages)" in page.text
