"""gov3: a caregiver's portal message is stored as the caregiver's, but the FHIR
Communication written back to the EHR still names the patient as its sender."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.governance.conftest import PATIENT_A
from tests.governance.test_proxy_caregiver_message import MARIA, WORDS, _maria_signed_in

from careloop.fhir.writeback import communications_of
from careloop.runtime import Runtime


def test_the_ehr_reads_the_caregiver_as_the_sender(
    population: Runtime, tmp_path: Path, api_client: Any, portal_client: Any
) -> None:
    maria = _maria_signed_in(population, tmp_path, api_client, portal_client)
    sent = maria.post(
        "/portal/messages", data={"body": WORDS, "patient": PATIENT_A}, follow_redirects=False
    )
    assert sent.status_code == 303, sent.text
    with population.transaction() as session:
        [comm] = [
            s.resource
            for s in communications_of(session, PATIENT_A)
            if s.resource["payload"] == [{"contentString": WORDS}]
        ]
    assert comm["sender"] == {"reference": f"RelatedPerson/{MARIA}"}
    assert comm["subject"]["reference"] == f"Patient/{PATIENT_A}"
