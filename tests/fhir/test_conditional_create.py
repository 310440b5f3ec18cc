"""Conditional create as an EHR's interface engine sends it: the ``If-None-Exist`` header is
a search query string (percent-encoded like any URL's), and a resent QuestionnaireResponse is
found by its business identifier, so a retry after a lost answer makes no second record."""

from __future__ import annotations

from pathlib import Path

from careloop.clock import FrozenClock
from tests.feedback.loop_payloads import glucose, phq9
from tests.fhir.conftest import FhirServer, add_patients, valid


def test_a_percent_encoded_if_none_exist_finds_the_reading_sent_before(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "enc-1")
    reading = glucose("enc-1", 100, clock.now())
    reading["identifier"] = [{"system": "urn:meter:42", "value": "r-1"}]
    corrected = glucose("enc-1", 101, clock.now()) | {"identifier": reading["identifier"]}
    condition = {"If-None-Exist": "identifier=urn%3Ameter%3A42%7Cr-1"}
    with fhir_server.http("clinician") as http:
        first = http.post("/Observation", json=reading, headers=condition)
        second = http.post("/Observation", json=corrected, headers=condition)
        total = http.get("/Observation", params={"patient": "enc-1"}).json()["total"]
    assert (first.status_code, second.status_code, total) == (201, 200, 1)
    assert second.json()["id"] == first.json()["id"]


def test_a_resent_questionnaire_response_is_found_by_its_identifier(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "qr-idem-1")
    answers = phq9("qr-idem-1", [1, 1, 1, 1, 1, 1, 1, 1, 3], clock.now())
    answers["identifier"] = {"system": "urn:ehr:qr", "value": "phq9-7"}
    resent = dict(answers, id="qr-resent")
    condition = {"If-None-Exist": "identifier=urn:ehr:qr|phq9-7"}
    with fhir_server.http("clinician") as http:
        first = http.post("/QuestionnaireResponse", json=answers, headers=condition)
        second = http.post("/QuestionnaireResponse", json=resent, headers=condition)
        found = http.get("/QuestionnaireResponse", params={"identifier": "urn:ehr:qr|phq9-7"})
        flags = http.get("/Flag", params={"patient": "qr-idem-1", "status": "active"}).json()
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["id"] == first.json()["id"]
    assert [e["resource"]["id"] for e in valid(found.json())["entry"]] == [first.json()["id"]]
    assert flags["total"] == 1  # one self-harm alert, not one per send
