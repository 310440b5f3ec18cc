"""The ``careloop measure evaluate`` contract: JSON shape, measure names, clear input errors."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from ecqm_cases import ECQM
from fhir_builders import bundle, encounter, patient
from spec_records import spec_records
from typer.testing import CliRunner

from careloop.cli import app

PERIOD = "2025-01-01/2025-12-31"
CMS125_CASES = ECQM / "testcases" / "BreastCancerScreeningFHIR"
runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["measure", "evaluate", *args])
    return result.exit_code, result.stdout, result.stderr


def write_bundle(tmp_path: Path) -> Path:
    path = tmp_path / "woman.json"
    path.write_bytes(
        orjson.dumps(bundle([patient(pid="p1", birth="1965-01-01"), encounter(day="2025-02-01")]))
    )
    return path


def test_json_is_one_object_per_patient_with_the_contract_keys(tmp_path: Path) -> None:
    code, out, _err = run(
        "--measure", "CMS125", "--period", PERIOD, str(write_bundle(tmp_path)), "--json"
    )

    assert code == 0
    assert json.loads(out) == [
        {
            "patient": "p1",
            "measure": "CMS125",
            "groups": [
                {
                    "initial-population": 1,
                    "denominator": 1,
                    "denominator-exclusion": 0,
                    "numerator": 0,
                }
            ],
            "care_gap": True,
            "reason": "no mammogram on record since 2023-10-01",
        }
    ]


def test_a_folder_of_test_bundles_gives_one_result_per_case() -> None:
    code, out, _err = run("--measure", "CMS125", "--period", PERIOD, str(CMS125_CASES), "--json")

    assert code == 0
    assert len(json.loads(out)) == 58


@pytest.mark.parametrize("name", ["CMS125", "CMS125FHIR", "cms125", "BreastCancerScreeningFHIR"])
def test_measure_accepted_by_cms_id_or_name(tmp_path: Path, name: str) -> None:
    code, out, _err = run(
        "--measure", name, "--period", PERIOD, str(write_bundle(tmp_path)), "--json"
    )

    assert code == 0
    assert json.loads(out)[0]["measure"] == "CMS125"


def test_cms138_reports_three_groups_in_measure_order() -> None:
    cases = ECQM / "testcases" / "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR"
    code, out, _err = run("--measure", "CMS138", "--period", PERIOD, str(cases), "--json")

    assert code == 0
    assert {len(r["groups"]) for r in json.loads(out)} == {3}


def test_cms2_reports_the_denominator_exception() -> None:
    cases = ECQM / "testcases" / "PCSDepressionScreenAndFollowUpFHIR"
    code, out, _err = run("--measure", "CMS2", "--period", PERIOD, str(cases), "--json")

    assert code == 0
    assert "denominator-exception" in json.loads(out)[0]["groups"][0]


def test_the_reason_never_contains_the_patients_name() -> None:
    code, out, _err = run("--measure", "CMS125", "--period", PERIOD, str(CMS125_CASES), "--json")

    assert code == 0
    assert all("Betty" not in r["reason"] and "Bertha" not in r["reason"] for r in json.loads(out))


def test_outreach_flag_includes_patients_without_a_visit(tmp_path: Path) -> None:
    path = tmp_path / "no-visit.json"
    path.write_bytes(orjson.dumps(bundle([patient(pid="p2", birth="1965-01-01")])))

    code, out, _err = run(
        "--measure", "CMS125", "--period", PERIOD, str(path), "--outreach", "--json"
    )

    assert code == 0
    assert json.loads(out)[0]["care_gap"] is True


def test_unknown_measure_is_a_clear_error(tmp_path: Path) -> None:
    code, out, err = run("--measure", "CMS999", "--period", PERIOD, str(write_bundle(tmp_path)))

    assert code == 2
    assert "unknown measure" in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("period", ["2025", "2025-13-01/2025-12-31", "2025-12-31/2025-01-01"])
def test_bad_period_is_a_clear_error(tmp_path: Path, period: str) -> None:
    code, out, err = run("--measure", "CMS125", "--period", period, str(write_bundle(tmp_path)))

    assert code == 2
    assert "period" in err
    assert "Traceback" not in out + err


def test_unreadable_bundle_is_a_clear_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")

    code, _out, err = run("--measure", "CMS125", "--period", PERIOD, str(broken))

    assert code == 2
    assert "not valid JSON" in err


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    code, _out, err = run("--measure", "CMS125", "--period", PERIOD, str(tmp_path / "nope.json"))

    assert code == 2
    assert "no such file" in err


def test_an_ordinary_import_keeps_strict_references_and_reports_the_orphan(
    database_url: str, tmp_path: Path
) -> None:
    """The same authoring-tool export (resources say ``Patient/Patient-1``, the Patient has
    another id): ``measure evaluate PATH`` reads it as the test deck's one record, while
    ``careloop import`` resolves references strictly, reports the encounter that points
    nowhere, and the imported record has no visit, so no initial population."""
    deck = tmp_path / "deck.json"
    deck.write_bytes(orjson.dumps(spec_records()["deck-patient-1"]))

    imported = runner.invoke(app, ["import", str(deck), "--database", database_url, "--json"])
    from_record = run("-m", "CMS125", "--period", PERIOD, "--database", database_url, "--json")
    from_deck = run("-m", "CMS125", "--period", PERIOD, str(deck), "--json")

    assert imported.exit_code == 0
    assert json.loads(imported.stdout)["unresolved_patient_references"] == 1
    (stored,) = json.loads(from_record[1])
    (read,) = json.loads(from_deck[1])
    assert (stored["patient"], stored["groups"][0]["initial-population"]) == ("deck-patient-1", 0)
    assert "test_deck" not in stored
    assert (read["patient"], read["groups"][0]["initial-population"], read["test_deck"]) == (
        "deck-patient-1",
        1,
        True,
    )


def test_text_output_says_when_test_deck_semantics_were_applied(tmp_path: Path) -> None:
    deck = tmp_path / "deck.json"
    deck.write_bytes(orjson.dumps(spec_records()["deck-patient-1"]))

    code, out, err = run("-m", "CMS125", "--period", PERIOD, str(deck))
    plain = run("-m", "CMS125", "--period", PERIOD, str(write_bundle(tmp_path)))

    assert code == 0
    assert out.startswith("deck-patient-1  CMS125  GAP")
    assert "note: test-deck semantics applied" in err
    assert "test-deck" not in plain[2]
