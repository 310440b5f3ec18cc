"""rev1 review of walk3 (FHIR conditional create, If-None-Exist).

Criteria that hold no search parameter (``_count=1``, ``&``) searched everything in the
   client's reach: with exactly one resource there, the new one was dropped and the old one
   returned as "already there" (200). A conditional create without criteria is a 400, as a
   search-less match URL is to HAPI ("URL has no search parameters").
"""

from __future__ import annotations

from pathlib import Path

from careloop.clock import FrozenClock
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients


def test_if_none_exist_without_a_search_parameter_is_refused_not_matched(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "nocrit-1")
    with fhir_server.http("clinician") as http:
        first = http.post("/Observation", json=glucose("nocrit-1", 100, clock.now()))
        second = http.post(
            "/Observation",
            json=glucose("nocrit-1", 250, clock.now()),
            headers={"If-None-Exist": "_count=1"},
        )
        total = http.get("/Observation", params={"patient": "nocrit-1"}).json()["total"]
    assert first.status_code == 201
    assert (second.status_code, total) == (400, 1)
    assert second.json()["resourceType"] == "OperationOutcome"
