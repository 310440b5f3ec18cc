"""What careloop learned, read back over FHIR: program results as MeasureReport, proposed
plan changes as CarePlan with their review Task (validated with ``fhir.resources``)."""

from __future__ import annotations

from pathlib import Path

from careloop.clock import FrozenClock
from careloop.programs.definition import find_program
from careloop.programs.service import run_program
from tests.feedback.loop_payloads import diary
from tests.fhir.conftest import FhirServer, add_patients, valid
from tests.programs.program_fixtures import import_patients, mammogram, patient


def test_a_care_gap_is_an_individual_measure_report_and_the_run_a_summary(
    fhir_server: FhirServer, tmp_path: Path
) -> None:
    rt = fhir_server.rt
    import_patients(
        rt,
        tmp_path / "women",
        [
            [patient("due", birth="1960-03-04")],
            [patient("screened", birth="1961-05-06"), mammogram("2024-12-01")],
        ],
    )
    with rt.transaction() as session:
        run_program(
            session,
            program=find_program("breast-cancer-screening"),
            now=rt.clock.now(),
            period="2025-01-01/2025-12-31",
        )
    measure = "https://careloop.dev/fhir/Measure/breast-cancer-screening"
    with fhir_server.http("clinician") as http:
        individual = valid(http.get("/MeasureReport", params={"patient": "due"}).json())
        reports = valid(http.get("/MeasureReport", params={"measure": measure}).json())
        none = http.get("/MeasureReport", params={"patient": "screened"}).json()
    (report,) = [e["resource"] for e in individual["entry"]]
    assert (report["type"], report["period"]) == (
        "individual",
        {"start": "2025-01-01", "end": "2025-12-31"},
    )
    summaries = [e["resource"] for e in reports["entry"] if e["resource"]["type"] == "summary"]
    assert [s["group"][0]["population"][0]["count"] for s in summaries] == [1]
    assert none["total"] == 0


def test_a_proposed_plan_change_is_a_draft_care_plan_with_a_review_task(
    fhir_server: FhirServer, clock: FrozenClock, tmp_path: Path
) -> None:
    add_patients(fhir_server.rt, tmp_path, "plan-1")
    with fhir_server.http("clinician") as http:
        http.post("/QuestionnaireResponse", json=diary("plan-1", {"diarrhea": 3}, clock.now()))
        plans = valid(http.get("/CarePlan", params={"patient": "plan-1"}).json())
        tasks = valid(http.get("/Task", params={"patient": "plan-1", "_sort": "_id"}).json())
    (plan,) = [e["resource"] for e in plans["entry"]]
    assert plan["status"] == "draft"
    foci = [e["resource"].get("focus", {}).get("reference") for e in tasks["entry"]]
    assert f"CarePlan/{plan['id']}" in foci
