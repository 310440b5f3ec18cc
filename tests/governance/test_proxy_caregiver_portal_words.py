"""gov3: a caregiver's portal message is the caregiver's on the console, but the patient's own
portal still tells the patient "You wrote to your care team" for words their daughter wrote."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.governance.conftest import PATIENT_A
from tests.governance.test_proxy_caregiver_message import WORDS, _maria_signed_in

from careloop.runtime import Runtime

YOU_WROTE = "You wrote to your care team"


def test_the_patient_is_not_told_they_wrote_their_caregivers_message(
    population: Runtime, tmp_path: Path, api_client: Any, portal_client: Any
) -> None:
    maria = _maria_signed_in(population, tmp_path, api_client, portal_client)
    patient = api_client("patient", patient_id=PATIENT_A)
    before = patient.get(f"/portal/messages?patient={PATIENT_A}")
    assert before.status_code == 200, before.text
    sent = maria.post(
        "/portal/messages", data={"body": WORDS, "patient": PATIENT_A}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text

    after = patient.get(f"/portal/messages?patient={PATIENT_A}").text

    assert WORDS in after
    assert after.count(YOU_WROTE) == before.text.count(YOU_WROTE)
    assert "Maria (daughter, caregiver)" in after
