"""Programs on loaded measure packages: CMS131 (no hand-written definition), loaded as published.

Outreach mode is derived from the ELM (``elm/outreach.py``): a program in outreach mode
finds the gaps of the reporting logic plus exactly the patients it leaves out for lack of a
qualifying visit. On SQLite and PostgreSQL (``rt``), through ``programs run``.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from ecqm_cases import ECQM
from fhir_builders import OBS_CATEGORY, OFFICE_VISIT
from program_fixtures import LOINC, SCT, import_patients, patient
from typer.testing import CliRunner

from careloop.cli import app
from careloop.errors import InvalidInput
from careloop.outreach.eligibility import ProgramsEligibility
from careloop.outreach.program import from_program_definition
from careloop.programs.definition import read_program
from careloop.programs.measures import service
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.packages import load_packages, read_and_compile
from careloop.programs.service import run_program
from careloop.runtime import Runtime

EYE = ECQM / "measures" / "DiabetesEyeExamFHIR"
LIBRARIES = ECQM / "libraries"
PERIOD = "2025-01-01/2025-12-31"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
CPT = OFFICE_VISIT[0]
PROGRAM = """
name: {name}
title: Diabetes eye exam
call_to_action: Book a retinal eye exam
purpose: care-reminders
eligibility: {{measure: {measure}, mode: {mode}}}
codes:
  Retinal exam: SNOMEDCT|252779009
completion:
  description: a retinal exam recorded
  any_of:
    - {{resource: Observation, code: Retinal exam}}
exclusions: [deceased, opted-out]
journey:
  - {{step: invite, action: send, message: mammogram_due}}
content: [mammogram_due]
holdout: 0
period: {{kind: calendar-year}}
"""


def program_file(folder: Path, *, mode: str, measure: str = "CMS131") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    name = f"eye-exam-{mode}"
    path = folder / f"{name}.yaml"
    path.write_text(PROGRAM.format(name=name, mode=mode, measure=measure))
    return path


def diabetes() -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "clinicalStatus": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": "active",
                }
            ]
        },
        "code": {"coding": [{"system": ICD10, "code": "E11.9"}]},
        "onsetDateTime": "2020-01-01T00:00:00Z",
    }


def office_visit(day: str) -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"code": "AMB"},
        "type": [{"coding": [{"system": CPT, "code": "99213"}]}],
        "period": {"start": f"{day}T09:00:00Z", "end": f"{day}T09:30:00Z"},
    }


def retinal_exam(day: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "exam"}]}],
        "code": {"coding": [{"system": SCT, "code": "252779009"}]},
        "effectiveDateTime": f"{day}T10:00:00Z",
    }


def _patients(rt: Runtime, tmp_path: Path) -> None:
    import_patients(
        rt,
        tmp_path / "patients",
        [
            [patient("no-visit", birth="1970-01-01"), diabetes()],
            [patient("visit-no-exam", birth="1970-01-01"), diabetes(), office_visit("2025-03-01")],
            [
                patient("visit-and-exam", birth="1970-01-01"),
                diabetes(),
                office_visit("2025-03-01"),
                retinal_exam("2025-04-01"),
            ],
            [patient("exam-no-visit", birth="1970-01-01"), diabetes(), retinal_exam("2025-04-01")],
            [patient("not-diabetic", birth="1970-01-01")],
            [patient("too-old", birth="1940-01-01"), diabetes()],
            [
                patient("deceased", birth="1970-01-01", deceasedDateTime="2025-02-01T00:00:00Z"),
                diabetes(),
            ],
            [
                patient("hba1c-only", birth="1970-01-01"),
                diabetes(),
                {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
                    "effectiveDateTime": "2025-05-01T10:00:00Z",
                },
            ],
        ],
    )
    with rt.transaction() as session:
        load_packages(session, [EYE, LIBRARIES], now=rt.clock.now())


def _run(rt: Runtime, path: Path) -> dict[str, str]:
    with rt.transaction() as session:
        run = run_program(session, program=read_program(path), now=rt.clock.now(), period=PERIOD)
    return {e.patient_id: e.reason for e in run.eligible}


def test_a_program_on_a_loaded_package_runs_in_both_modes(rt: Runtime, tmp_path: Path) -> None:
    _patients(rt, tmp_path)

    reporting = _run(rt, program_file(tmp_path / "programs", mode="reporting"))
    outreach = _run(rt, program_file(tmp_path / "programs", mode="outreach"))

    assert set(reporting) == {"visit-no-exam"}
    # outreach = the reporting gaps + exactly those left out for lack of a visit
    assert set(outreach) == {"visit-no-exam", "no-visit", "hba1c-only"}
    assert outreach["no-visit"] == "Diabetes: Eye ExamFHIR not met in the period"


def test_programs_run_on_a_package_from_the_cli(rt: Runtime, tmp_path: Path) -> None:
    _patients(rt, tmp_path)
    program_file(tmp_path / "programs", mode="outreach")

    result = CliRunner().invoke(
        app,
        [
            "programs", "run", "--program", "eye-exam-outreach", "--period", PERIOD,
            "--programs-dir", str(tmp_path / "programs"),
            "--database", rt.settings.database_url, "--json",
        ],
    )  # fmt: skip

    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert {e["patient"] for e in found["eligible"]} == {"visit-no-exam", "no-visit", "hba1c-only"}
    assert {e["care_gap"]["measure"] for e in found["eligible"]} == {"CMS131"}
    assert found["excluded"] == {"deceased": 1}


def test_the_nightly_identification_path_enrolls_from_a_package_program(
    rt: Runtime, tmp_path: Path
) -> None:
    _patients(rt, tmp_path)
    program = read_program(program_file(tmp_path / "programs", mode="outreach"))
    outreach_program = from_program_definition(program.definition, source=program)

    with rt.transaction() as session:
        found = list(
            ProgramsEligibility()(
                session, program=outreach_program, now=datetime(2025, 12, 1, tzinfo=UTC)
            )
        )

    assert {c.patient_id for c in found} == {"visit-no-exam", "no-visit", "hba1c-only"}
    assert {c.episode for c in found} == {"period:2025-01-01/2025-12-31"}


def test_a_program_on_a_package_that_is_not_loaded_says_so(rt: Runtime, tmp_path: Path) -> None:
    program = read_program(program_file(tmp_path, mode="outreach", measure="CMS999"))

    assert program.package == "CMS999"
    with rt.transaction() as session, pytest.raises(InvalidInput) as raised:
        run_program(session, program=program, now=rt.clock.now(), period=PERIOD)
    assert "no loaded package" in str(raised.value)
    assert raised.value.field == "eligibility.measure"


def test_an_episode_based_package_has_no_outreach_mode() -> None:
    pain = read_and_compile([ECQM / "measures" / "OncologyPainIntensityQuantifiedFHIR", LIBRARIES])

    with pytest.raises(InvalidInput, match="episode-based"):
        pain[0].outreach()


# -- outreach derived from the ELM, checked on every official CMS131 case -------------------


def _with_visit(document: dict[str, Any]) -> dict[str, Any]:
    """The same record plus one finished office visit in the period."""
    varied = copy.deepcopy(document)
    visit = office_visit("2025-06-15")
    visit["id"] = "added-visit"
    varied["entry"].append({"resource": visit})
    return varied


def test_outreach_gaps_are_the_gaps_a_visit_would_reveal(tmp_path: Path) -> None:
    """For each official CMS131 case: the outreach gap equals the reporting gap of the same
    record with a qualifying visit added (the visit is the only thing outreach drops)."""
    (eye,) = read_and_compile([EYE, LIBRARIES])
    start, end = service.parse_period(PERIOD)
    target = tmp_path / "record.json"
    checked = 0
    for path in sorted((ECQM / "testcases" / "DiabetesEyeExamFHIR").glob("*-bundle.json")):
        document = orjson.loads(path.read_bytes())
        (outreach,) = service.evaluate_paths(
            [path], measures=[eye], start=start, end=end, outreach=True
        )
        target.write_bytes(orjson.dumps(_with_visit(document)))
        (visited,) = service.evaluate_population(
            read_patients([target]), measures=[eye], start=start, end=end
        )
        if outreach["reason"] != "patient is deceased":
            assert outreach["groups"] == visited["groups"], path.name
            assert outreach["care_gap"] == visited["care_gap"], path.name
        checked += 1
    assert checked == 51


def test_outreach_drops_only_the_visit_requirement() -> None:
    (eye,) = read_and_compile([EYE, LIBRARIES])

    assert eye.outreach().outreach_dropped == (
        'exists DiabetesEyeExamFHIR."Qualifying Encounters"',
    )


@pytest.mark.parametrize(
    ("cms", "name"),
    [
        ("CMS125", "BreastCancerScreeningFHIR"),
        ("CMS130", "ColonCancerScreeningFHIR"),
        ("CMS124", "CervicalCancerScreeningFHIR"),
        ("CMS165", "ControllingHighBloodPressureFHIR"),
        ("CMS138", "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR"),
        ("CMS2", "PCSDepressionScreenAndFollowUpFHIR"),
    ],
)
def test_derived_outreach_equals_the_hand_marked_outreach(cms: str, name: str) -> None:
    """The hand-written definitions mark the visit requirement with ``outreach: true``; the
    ELM-derived outreach gives the same populations and care gaps on every official bundle
    and every Synthea patient. (CMS122's package says its improvement notation both ways,
    so only its populations are compared, in test_measures_reference's spirit.)"""
    (elm,) = read_and_compile([ECQM / "measures" / name, LIBRARIES])
    hand = service.find_measure(cms, engine="definition")
    sources = [
        (sorted((ECQM / "testcases").rglob("*-bundle.json")), PERIOD),
        ([ECQM.parent / "synthea-r4" / "patients"], "2020-01-01/2020-12-31"),
    ]
    for paths, period in sources:
        start, end = service.parse_period(period)
        patients = list(read_patients(paths))
        both = [
            service.evaluate_population(patients, measures=[m], start=start, end=end, outreach=True)
            for m in (hand, elm)
        ]
        differ = [
            (a["patient"], a["groups"], b["groups"], a["care_gap"], b["care_gap"])
            for a, b in zip(*both, strict=True)
            if a["groups"] != b["groups"] or a["care_gap"] != b["care_gap"]
        ]
        assert differ == []


def test_cms122_derived_outreach_has_the_hand_marked_populations() -> None:
    (elm,) = read_and_compile(
        [ECQM / "measures" / "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR", LIBRARIES]
    )
    hand = service.find_measure("CMS122", engine="definition")
    start, end = service.parse_period(PERIOD)
    patients = list(read_patients(sorted((ECQM / "testcases").rglob("*-bundle.json"))))
    a, b = (
        list(
            service.evaluate_population(patients, measures=[m], start=start, end=end, outreach=True)
        )
        for m in (hand, elm)
    )
    assert [r["groups"] for r in a] == [r["groups"] for r in b]


def test_measure_evaluate_outreach_runs_a_loaded_package(database_url: str) -> None:
    runner = CliRunner()
    loaded = runner.invoke(
        app, ["measure", "load", str(EYE), str(LIBRARIES), "--database", database_url]
    )
    assert loaded.exit_code == 0, loaded.stderr
    cases = ECQM / "testcases" / "DiabetesEyeExamFHIR"

    results = {}
    for flag in ([], ["--outreach"]):
        run = runner.invoke(
            app,
            [
                "measure", "evaluate", "--measure", "CMS131", "--period", PERIOD, str(cases),
                "--database", database_url, "--json", *flag,
            ],
        )  # fmt: skip
        assert run.exit_code == 0, run.stderr
        results[bool(flag)] = {r["patient"]: r["care_gap"] for r in json.loads(run.stdout)}

    reporting, outreach = results[False], results[True]
    assert {p for p, gap in reporting.items() if gap} <= {p for p, gap in outreach.items() if gap}
    assert sum(outreach.values()) > sum(reporting.values())
