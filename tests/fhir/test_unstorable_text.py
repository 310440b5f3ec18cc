"""A device or EHR posting text the record cannot store gets a 400 naming the element, not a
500 from the database, and its next clean reading is stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from careloop.clock import FrozenClock
from careloop.fhirdata.storable import nul_path, unstorable
from tests.feedback.loop_payloads import glucose
from tests.fhir.conftest import FhirServer, add_patients, valid


def test_a_nul_character_or_an_over_long_id_is_refused_naming_the_element(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """PostgreSQL cannot store U+0000 and FHIR ids stop at 64 characters: each such POST is a
    400 OperationOutcome whose expression is the element, nothing is stored, nothing of the
    resource reaches the log, and the device's next reading is created as usual."""
    add_patients(fhir_server.rt, tmp_path, "nul-1")
    padded = glucose("nul-1", 100, clock.now())
    padded["note"] = [{"text": "meter 7"}, {"text": "Maria's reading\u0000\u0000"}]
    long_id = dict(glucose("nul-1", 100, clock.now()), id="x" * 65)
    nul_id = dict(glucose("nul-1", 100, clock.now()), id="ab\u0000c")
    with fhir_server.http("clinician") as http:
        refused = [http.post("/Observation", json=body) for body in (padded, long_id, nul_id)]
        clean = http.post("/Observation", json=glucose("nul-1", 101, clock.now()))
        total = http.get("/Observation", params={"patient": "nul-1"}).json()["total"]
    assert [r.status_code for r in refused] == [400, 400, 400]
    assert [valid(r.json())["issue"][0]["expression"] for r in refused] == [
        ["note[1].text"],
        ["id"],
        ["id"],
    ]
    assert clean.status_code == 201
    assert total == 1
    assert "Maria" not in caplog.text


def test_the_walk_names_the_first_element_holding_a_nul_and_skips_clean_json() -> None:
    """Keys count as much as values; a body whose JSON holds no ``\\u0000`` escape is passed
    without a walk; a plain, long-enough id passes."""
    assert nul_path({"a": [{"b": "ok"}, {"c": ["x", "y\x00"]}]}) == "a[1].c[1]"
    assert nul_path({"ext\x00": 1}) == "ext\x00"
    assert nul_path({"a": "fine", "n": [1, 2.5, None, True]}) is None
    assert unstorable({"id": "x" * 64, "note": "a\x00"}, raw=b'{"id": "xx"}') is None
    assert unstorable({"id": "x" * 64, "note": "a\x00"}, raw=b'"a\\u0000"') == (
        "note",
        "contains a NUL character (U+0000), which a FHIR string may not hold",
    )
