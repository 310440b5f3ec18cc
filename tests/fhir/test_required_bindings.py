"""Codes bound *required* by FHIR R4 are checked on create: an integration engine sending a
code outside its value set (``identifier.use: primary``) gets a 4xx OperationOutcome naming
the field, and nothing is stored. (A reading's own ``status`` was already refused by the
feedback loop's rule, final/amended/corrected/preliminary.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from fhirclient import client
from fhirclient.models.observation import Observation

from careloop.clock import FrozenClock
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients, valid


def _client(server: FhirServer) -> client.FHIRClient:
    smart = client.FHIRClient(settings={"app_id": "careloop-tests", "api_base": server.url + "/"})
    smart.server.session.headers["Authorization"] = f"Bearer {server.token('clinician')}"
    return smart


def test_an_observation_with_a_code_outside_its_value_set_is_refused_by_field(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "vs-1")
    body = glucose("vs-1", 100, clock.now())
    del body["id"]
    body["identifier"] = [{"use": "primary", "system": "urn:meter:7", "value": "r-1"}]
    with pytest.raises(requests.HTTPError) as refused:
        Observation(body).create(_client(fhir_server).server)
    answer = refused.value.response
    assert answer.status_code in (400, 422)
    [issue] = valid(answer.json())["issue"]
    assert issue["expression"] == ["identifier[0].use"]
    assert "ValueSet/identifier-use" in issue["diagnostics"]
    with fhir_server.http("clinician") as http:
        assert http.get("/Observation", params={"patient": "vs-1"}).json()["total"] == 0


def test_a_transaction_refuses_the_entry_with_a_bad_code_and_keeps_the_good_one(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "vs-2")
    good = glucose("vs-2", 100, clock.now())
    bad = glucose("vs-2", 700, clock.now())
    bad["valueQuantity"]["comparator"] = "about"  # the meter's "HI" is ">", not "about"
    bundle = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [
            {"resource": body, "request": {"method": "POST", "url": "Observation"}}
            for body in (good, bad)
        ],
    }
    with fhir_server.http("clinician") as http:
        answer = valid(http.post(fhir_server.url, json=bundle).json())
        stored = http.get("/Observation", params={"patient": "vs-2"}).json()
    statuses = [e["response"]["status"][:3] for e in answer["entry"]]
    assert statuses[0] == "201"
    assert statuses[1] in ("400", "422")
    [issue] = answer["entry"][1]["response"]["outcome"]["issue"]
    assert issue["expression"] == ["valueQuantity.comparator"]
    assert [e["resource"]["id"] for e in stored["entry"]] == [good["id"]]
