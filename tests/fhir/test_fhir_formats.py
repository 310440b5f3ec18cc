"""What an integration engineer gets when asking for what careloop cannot serve: a format
other than JSON (406, or 415 for a body, FHIR R4 HTTP) and a search on a reference of a
type the parameter cannot take (400 naming it), never a 200 read as an answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.clock import FrozenClock
from careloop.errors import InvalidInput
from careloop.fhir.params import parse_query
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients, valid

XML = "application/fhir+xml"


def _refused(reply: httpx.Response) -> tuple[int, str]:
    issue = valid(reply.json())["issue"][0]
    return reply.status_code, issue["code"]


def test_xml_asked_by_format_or_accept_is_406_not_json(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        by_format = http.get("/metadata", params={"_format": "xml"})
        by_media_type = http.get("/metadata", params={"_format": XML})
        by_accept = http.get("/metadata", headers={"Accept": XML})
        on_search = http.get("/Patient", params={"_format": "xml"})

    assert [_refused(r) for r in (by_format, by_media_type, by_accept, on_search)] == [
        (406, "not-supported")
    ] * 4


def test_json_asked_in_any_spelling_is_served(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        replies = [
            http.get("/metadata", params={"_format": "json"}),
            http.get("/metadata?_format=application/fhir+json"),  # "+" unencoded: a space
            http.get("/metadata", headers={"Accept": "application/fhir+json; charset=utf-8"}),
            http.get("/metadata", headers={"Accept": f"{XML}, application/json;q=0.5"}),
            http.get("/metadata", headers={"Accept": "text/html,application/xml;q=0.9,*/*"}),
        ]

    assert [r.status_code for r in replies] == [200] * 5
    assert {r.json()["resourceType"] for r in replies} == {"CapabilityStatement"}


def test_accept_refusing_json_with_q0_is_406(fhir_server: FhirServer) -> None:
    with fhir_server.http("clinician") as http:
        reply = http.get("/metadata", headers={"Accept": f"{XML}, application/fhir+json;q=0"})

    assert _refused(reply) == (406, "not-supported")


def test_an_xml_body_is_415(fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path) -> None:
    add_patients(fhir_server.rt, tmp_path, "xml-1")
    with fhir_server.http("clinician") as http:
        reply = http.post(
            "/Observation",
            content=b"<Observation xmlns='http://hl7.org/fhir'/>",
            headers={"Content-Type": XML},
        )
        taken = http.post(
            "/Observation",
            json=glucose("xml-1", 100, clock.now()),
            headers={"Content-Type": "application/fhir+json; charset=utf-8"},
        )

    assert _refused(reply) == (415, "not-supported")
    assert taken.status_code == 201


def test_a_subject_of_a_type_it_cannot_take_is_400_naming_subject(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "grp-1")
    with fhir_server.http("clinician") as http:
        assert http.post("/Observation", json=glucose("grp-1", 100, clock.now())).is_success
        group = http.get("/Observation", params={"subject": "Group/grp-1"})
        full_url = http.get("/Observation", params={"subject": "https://x.org/fhir/Group/grp-1"})
        patient = http.get("/Observation", params={"subject": "Patient/grp-1"})

    for reply in (group, full_url):
        assert reply.status_code == 400
        assert valid(reply.json())["issue"][0]["expression"] == ["subject"]
    assert patient.json()["total"] == 1


@given(kind=st.sampled_from(["Group", "Device", "Location", "Practitioner", "Observation"]))
def test_any_other_type_on_a_patient_reference_is_refused(kind: str) -> None:
    for name in ("subject", "patient"):
        with pytest.raises(InvalidInput) as refused:
            parse_query("Observation", [(name, f"{kind}/x")])
        assert refused.value.field == name
