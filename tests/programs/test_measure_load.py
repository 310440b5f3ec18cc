"""``careloop measure load PATH...`` (contract): packages stored, then run by CMS id or name."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from ecqm_cases import ECQM, shared_cases
from spec_records import spec_records
from typer.testing import CliRunner

from careloop.cli import app

PERIOD = "2025-01-01/2025-12-31"
runner = CliRunner()
EYE = ECQM / "measures" / "DiabetesEyeExamFHIR"
PAIN = ECQM / "measures" / "OncologyPainIntensityQuantifiedFHIR"
LIBRARIES = ECQM / "libraries"


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def expected(cms: str) -> dict[str, list[dict[str, int]]]:
    return {
        c["patient"]: [c["groups"][i] for i in sorted(c["groups"])]
        for c in shared_cases()
        if c["cms_id"] == cms
    }


def test_load_reports_each_measure_with_its_libraries(database_url: str) -> None:
    code, out, _ = cli(
        "measure", "load", str(EYE), str(PAIN), str(LIBRARIES), "--database", database_url, "--json"
    )

    assert code == 0
    loaded = {item["cms_id"]: item for item in json.loads(out)}
    assert set(loaded) == {"CMS131", "CMS157"}
    assert loaded["CMS157"]["population_basis"] == ["episode", "episode"]
    assert loaded["CMS131"]["population_basis"] == ["boolean"]
    assert "FHIRHelpers" in loaded["CMS131"]["libraries"]
    assert "CQMCommon" in loaded["CMS157"]["libraries"]


@pytest.mark.parametrize(
    ("identifier", "package", "cms"),
    [("CMS131", EYE, "CMS131FHIR"), ("OncologyPainIntensityQuantifiedFHIR", PAIN, "CMS157FHIR")],
)
def test_a_loaded_package_agrees_with_every_official_case(
    database_url: str, identifier: str, package: Path, cms: str
) -> None:
    assert cli("measure", "load", str(package), str(LIBRARIES), "--database", database_url)[0] == 0
    cases = ECQM / "testcases" / package.name

    code, out, _ = cli(
        "measure",
        "evaluate",
        "--measure",
        identifier,
        "--period",
        PERIOD,
        str(cases),
        "--database",
        database_url,
        "--json",
    )

    assert code == 0
    results = json.loads(out)
    assert {r["patient"]: r["groups"] for r in results} == expected(cms)
    assert {r["measure"] for r in results} == {cms.removesuffix("FHIR")}


def test_loading_twice_changes_nothing(database_url: str) -> None:
    first = cli("measure", "load", str(EYE), str(LIBRARIES), "--database", database_url, "--json")
    second = cli("measure", "load", str(EYE), str(LIBRARIES), "--database", database_url, "--json")

    assert first[0] == second[0] == 0
    assert json.loads(first[1]) == json.loads(second[1])


def test_engine_elm_runs_a_built_in_measure_from_its_package(database_url: str) -> None:
    breast = ECQM / "measures" / "BreastCancerScreeningFHIR"
    cases = ECQM / "testcases" / "BreastCancerScreeningFHIR"
    missing = cli(
        "measure",
        "evaluate",
        "-m",
        "CMS125",
        "--period",
        PERIOD,
        str(cases),
        "--engine",
        "elm",
        "--database",
        database_url,
    )
    assert missing[0] == 2
    assert "no loaded package" in missing[2]
    assert cli("measure", "load", str(breast), str(LIBRARIES), "--database", database_url)[0] == 0

    code, out, _ = cli(
        "measure",
        "evaluate",
        "-m",
        "CMS125",
        "--period",
        PERIOD,
        str(cases),
        "--engine",
        "elm",
        "--database",
        database_url,
        "--json",
    )

    assert code == 0
    assert {r["patient"]: r["groups"] for r in json.loads(out)} == expected("CMS125FHIR")


def _library_with(tmp_path: Path, node_type: str) -> Path:
    """The CMS131 package with one ELM node replaced by a kind the engine does not run."""
    folder = tmp_path / "package"
    folder.mkdir()
    (folder / "measure.json").write_bytes((EYE / "Measure-DiabetesEyeExamFHIR.json").read_bytes())
    (folder / "valuesets.json").write_bytes(
        (EYE / "valuesets-DiabetesEyeExamFHIR-bundle.json").read_bytes()
    )
    for path in LIBRARIES.glob("*.json"):
        library: dict[str, Any] = orjson.loads(path.read_bytes())
        if library["name"] == "DiabetesEyeExamFHIR":
            for content in library["content"]:
                if content["contentType"] == "application/elm+json":
                    elm = orjson.loads(base64.b64decode(content["data"]))
                    statement = elm["library"]["statements"]["def"][-1]
                    statement["expression"] = {"type": node_type, "operand": []}
                    content["data"] = base64.b64encode(orjson.dumps(elm)).decode()
        (folder / path.name).write_bytes(orjson.dumps(library))
    return folder


def test_unsupported_elm_fails_at_load_with_the_node_name_and_stores_nothing(
    database_url: str, tmp_path: Path
) -> None:
    code, _out, err = cli(
        "measure", "load", str(_library_with(tmp_path, "HighBoundary")), "--database", database_url
    )

    assert code == 2
    assert "HighBoundary" in err
    assert "Traceback" not in err
    listed = cli(
        "measure",
        "evaluate",
        "-m",
        "CMS131",
        "--period",
        PERIOD,
        str(tmp_path),
        "--database",
        database_url,
    )
    assert listed[0] == 2
    assert "unknown measure" in listed[2]


def test_a_package_without_its_libraries_is_refused(database_url: str) -> None:
    code, _out, err = cli("measure", "load", str(EYE), "--database", database_url)

    assert code == 2
    assert "library DiabetesEyeExamFHIR" in err


@pytest.mark.parametrize(
    ("cms", "name"),
    [
        ("CMS138", "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR"),
        ("CMS165", "ControllingHighBloodPressureFHIR"),
    ],
)
def test_a_hand_written_measure_loaded_as_published_equals_its_definition(
    database_url: str, tmp_path: Path, cms: str, name: str
) -> None:
    """Nothing in the loader or the ELM engine is written for CMS131 or CMS157: the package
    of a measure careloop also has by hand (CMS138: three groups; CMS165: its cases held
    out), loaded with ``measure load`` exactly as published, gives the hand-written
    definition's populations on every official bundle (all 309, whatever measure they were
    written for) and on the records written from the specification."""
    for key, document in spec_records().items():
        (tmp_path / f"{key}.json").write_bytes(orjson.dumps(document))
    loaded = cli("measure", "load", str(ECQM / "measures" / name), str(LIBRARIES),
                 "--database", database_url, "--json")  # fmt: skip
    assert loaded[0] == 0
    assert [item["cms_id"] for item in json.loads(loaded[1])] == [cms]

    def populations(engine: str) -> dict[str, Any]:
        code, out, err = cli("measure", "evaluate", "-m", cms, "--period", PERIOD,
                             str(ECQM / "testcases"), str(tmp_path), "--engine", engine,
                             "--database", database_url, "--json")  # fmt: skip
        assert code == 0, err
        return {r["patient"]: r["groups"] for r in json.loads(out)}

    published, hand_written = populations("elm"), populations("definition")

    assert len(published) == 309 + len(spec_records())
    assert published == hand_written
