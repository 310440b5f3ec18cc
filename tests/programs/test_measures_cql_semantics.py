"""The three kinds of misses of the first engine, each checked on both engines.

Built from the public specification: the eCQM test-deck convention (a test bundle is one
patient's whole record), CQL's null semantics (a result that is not a Quantity is a missing
result) and the measures' time-based association of readings with encounters (CMS165).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from ecqm_cases import ECQM
from fhir_builders import (
    DIABETES,
    ESSENTIAL_HYPERTENSION,
    HBA1C,
    blood_pressure,
    bundle,
    condition,
    encounter,
    lab,
    patient,
)

from careloop.programs.measures import service
from careloop.programs.measures.packages import read_and_compile

PERIOD = "2025-01-01/2025-12-31"
PACKAGES = {
    "CMS125": "BreastCancerScreeningFHIR",
    "CMS122": "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "CMS165": "ControllingHighBloodPressureFHIR",
}


@pytest.fixture(scope="module", params=["definition", "elm"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def evaluate(cms: str, engine: str, path: Path) -> dict[str, Any]:
    if engine == "elm":
        measure: Any = read_and_compile([ECQM / "measures" / PACKAGES[cms], ECQM / "libraries"])[0]
    else:
        measure = service.find_measure(cms)
    start, end = service.parse_period(PERIOD)
    (result,) = service.evaluate_paths([path], measures=[measure], start=start, end=end)
    return result


def write(tmp_path: Path, resources: list[dict[str, Any]]) -> Path:
    path = tmp_path / "record.json"
    path.write_bytes(orjson.dumps(bundle(resources)))
    return path


def test_a_test_bundle_is_its_patients_whole_record(tmp_path: Path, engine: str) -> None:
    """Authoring-tool exports reference ``Patient/Patient-1`` while the Patient has a UUID."""
    document = bundle([patient(pid="3f1c", birth="1965-01-01"), encounter(day="2025-02-01")])
    for entry in document["entry"][1:]:
        entry["resource"]["subject"] = {"reference": "Patient/Patient-1"}
    path = tmp_path / "deck.json"
    path.write_bytes(orjson.dumps(document))

    result = evaluate("CMS125", engine, path)

    assert result["patient"] == "3f1c"
    assert result["groups"][0]["initial-population"] == 1
    assert result["test_deck"] is True


def test_an_ordinary_record_is_not_marked_as_a_test_deck(tmp_path: Path, engine: str) -> None:
    path = write(tmp_path, [patient(pid="p1", birth="1965-01-01"), encounter(day="2025-02-01")])

    assert "test_deck" not in evaluate("CMS125", engine, path)


def test_a_coded_glycemic_result_is_neither_elevated_nor_without_result(
    tmp_path: Path, engine: str
) -> None:
    """Published CMS122 logic: ``value as Quantity`` of a code is null (not > 9), and the
    Observation's ``value`` itself is not null, so a coded result on the most recent day
    puts the patient in neither numerator branch."""
    path = write(
        tmp_path,
        [
            patient(pid="p1", birth="1960-05-05"),
            condition(code=DIABETES, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            lab(code=HBA1C, day="2025-03-01", percent=9.5),
            lab(code=HBA1C, day="2025-09-01"),  # the most recent: a code, not a Quantity
        ],
    )

    assert evaluate("CMS122", engine, path)["groups"][0]["numerator"] == 0


def test_a_reading_without_its_encounter_counts_as_outpatient(tmp_path: Path, engine: str) -> None:
    """Published CMS165 logic: ``not (BloodPressure.encounter.getEncounter().class.code in
    {'EMER', 'IMP', ...})``. With no encounter the element is null, and CQL's list ``In`` is
    false for a null element unless the list holds a null (CQL 1.5, "In (List)": "If the
    first argument is null, the result is true if the list contains any null elements, and
    false otherwise"), so the ``not`` is true and the reading counts. The reference engine
    agrees (reference/CMS165.json, spec record ``cms165-no-encounter``); careloop had
    dropped the reading, treating ``null in list`` as null."""
    path = write(
        tmp_path,
        [
            patient(pid="p1", birth="1965-04-02", gender="male"),
            condition(code=ESSENTIAL_HYPERTENSION, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            blood_pressure(day="2025-03-01", systolic=128, diastolic=78),
            blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id=None),
        ],
    )

    assert evaluate("CMS165", engine, path)["groups"][0]["numerator"] == 0


def test_a_reading_is_tied_to_its_encounter_by_reference_not_by_time(
    tmp_path: Path, engine: str
) -> None:
    """The 2025 CMS165 (QI-Core 4.1.1) ties a reading to an encounter through its
    ``encounter`` reference (``getEncounter``), not by time: a reading taken during an
    emergency visit that does not reference it is an outpatient reading. (Earlier,
    QDM-based versions excluded readings whose time fell within an ED or inpatient
    encounter.) Reference engine: spec record ``cms165-during-emergency``."""
    reading = blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id=None)
    reading["effectiveDateTime"] = "2025-11-01T09:15:00Z"  # within the ED visit 09:00-09:30
    path = write(
        tmp_path,
        [
            patient(pid="p1", birth="1965-04-02", gender="male"),
            condition(code=ESSENTIAL_HYPERTENSION, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            encounter(day="2025-11-01", eid="er", klass="EMER"),
            blood_pressure(day="2025-03-01", systolic=128, diastolic=78),
            reading,
        ],
    )

    assert evaluate("CMS165", engine, path)["groups"][0]["numerator"] == 0


def test_a_reading_during_an_emergency_visit_does_not_count(tmp_path: Path, engine: str) -> None:
    path = write(
        tmp_path,
        [
            patient(pid="p1", birth="1965-04-02", gender="male"),
            condition(code=ESSENTIAL_HYPERTENSION, onset="2020-01-01"),
            encounter(day="2025-03-01"),
            encounter(day="2025-11-01", eid="er", klass="EMER"),
            blood_pressure(day="2025-03-01", systolic=128, diastolic=78),
            blood_pressure(day="2025-11-01", systolic=170, diastolic=100, encounter_id="er"),
        ],
    )

    assert evaluate("CMS165", engine, path)["groups"][0]["numerator"] == 1
