"""Codes bound *required* by FHIR R4 are checked inside ``contained`` resources too: an EHR
that sends a reading with its device's or its source observation's data contained gets a 4xx
OperationOutcome naming the contained field, and nothing is stored. (The check of top-level
elements missed them: ``contained`` holds whole resources, which the element walk skipped.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from fhirclient.models.observation import Observation

from careloop.clock import FrozenClock
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.fhir.test_required_bindings import _client

SOURCE = {
    "resourceType": "Observation",
    "id": "meter-raw",
    "status": "final",
    "code": {"text": "meter reading"},
}
RELATIVE = {
    "resourceType": "RelatedPerson",
    "id": "reader",
    "patient": {"reference": "Patient/vs-c"},
    "gender": "female",
}


@pytest.mark.parametrize(
    ("contained", "expression", "value_set"),
    [
        ([SOURCE | {"status": "bogus"}], "contained[0].status", "observation-status"),
        ([SOURCE, RELATIVE | {"gender": "F"}], "contained[1].gender", "administrative-gender"),
        (
            [RELATIVE | {"telecom": [{"system": "beeper", "value": "x"}]}],
            "contained[0].telecom[0].system",
            "contact-point-system",
        ),
    ],
)
def test_a_code_outside_its_value_set_in_a_contained_resource_is_refused_by_field(
    fhir_server: FhirServer,
    clock: FrozenClock,
    tmp_path: Path,
    contained: list[dict[str, Any]],
    expression: str,
    value_set: str,
) -> None:
    add_patients(fhir_server.rt, tmp_path, "vs-c")
    body = glucose("vs-c", 100, clock.now())
    del body["id"]
    body["contained"] = contained
    body["derivedFrom"] = [{"reference": "#meter-raw"}]
    with pytest.raises(requests.HTTPError) as refused:
        Observation(body).create(_client(fhir_server).server)
    answer = refused.value.response
    assert answer.status_code == 422
    [issue] = valid(answer.json())["issue"]
    assert issue["expression"] == [expression]
    assert f"Observation.{expression}:" in issue["diagnostics"]
    assert f"ValueSet/{value_set}" in issue["diagnostics"]
    with fhir_server.http("clinician") as http:
        assert http.get("/Observation", params={"patient": "vs-c"}).json()["total"] == 0


def test_a_reading_with_valid_contained_resources_is_stored(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "vs-c")
    body = glucose("vs-c", 100, clock.now())
    del body["id"]
    body["contained"] = [SOURCE, RELATIVE]
    body["derivedFrom"] = [{"reference": "#meter-raw"}]
    created = Observation(body).create(_client(fhir_server).server)
    assert created is not None
    with fhir_server.http("clinician") as http:
        [entry] = http.get("/Observation", params={"patient": "vs-c"}).json()["entry"]
    assert [r["id"] for r in entry["resource"]["contained"]] == ["meter-raw", "reader"]
