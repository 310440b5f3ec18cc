"""The identification projection (``resource_facts``) gives exactly today's answers.

Differential: every built-in measure and every shipped program, evaluated once over the
whole stored resources (``records.service.load_patient_resources``) and once over the facts
written at import (``records.projection.load_patient_facts``), on every shared eCQM test case
and on the 100 Synthea patients, on SQLite and PostgreSQL. Any field the projection drops that
some criterion reads shows up here as a differing result.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.conftest import SHARED_DATA

from careloop.programs.definition import load_programs
from careloop.programs.eligibility import evaluate_record
from careloop.programs.measures import service
from careloop.programs.measures.record import PatientRecord
from careloop.programs.windows import resolve_window
from careloop.records.importer import import_paths
from careloop.records.projection import load_patient_facts
from careloop.records.service import load_patient_resources
from careloop.runtime import Runtime
from careloop.security.principal import CLI_OPERATOR

CASES = SHARED_DATA / "ecqm-qicore-2024" / "testcases"
SYNTHEA = SHARED_DATA / "synthea-r4" / "patients"
FOLDERS = sorted(p.name for p in CASES.iterdir() if p.is_dir())
Loaded = list[tuple[str, list[dict[str, Any]]]]


def _without_identifiers(source: Path, target: Path) -> None:
    # The official test patients share one MRN; without identifiers each stays its own record.
    for path in sorted(source.glob("*.json")):
        bundle = orjson.loads(path.read_bytes())
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Patient":
                entry["resource"].pop("identifier", None)
        target.joinpath(path.name).write_bytes(orjson.dumps(bundle))


def _import(rt: Runtime, folder: Path) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[folder],
        clock=rt.clock,
        principal=CLI_OPERATOR,
        default_timezone="UTC",
        workers=0,
    )
    assert summary.rejected == []


def _both(rt: Runtime, codes: frozenset[str], always: tuple[str, ...]) -> tuple[Loaded, Loaded]:
    with rt.transaction() as session:
        whole = list(load_patient_resources(session, only_codes=codes, always_types=always))
        facts = list(load_patient_facts(session, only_codes=codes, always_types=always))
    return whole, facts


def _measure_results(loaded: Loaded, *, period: str, outreach: bool) -> list[dict[str, Any]]:
    start, end = service.parse_period(period)
    results = service.evaluate_population(
        loaded, measures=service.all_measures(), start=start, end=end, outreach=outreach
    )
    return sorted(results, key=lambda r: (r["patient"], r["measure"]))


def _assert_measures_agree(rt: Runtime, *, period: str) -> int:
    codes = service.retrieval_codes(service.all_measures())
    whole, facts = _both(rt, codes, service.ALWAYS_LOADED)
    assert [pid for pid, _ in facts] == [pid for pid, _ in whole]
    compared = 0
    for outreach in (False, True):
        expected = _measure_results(whole, period=period, outreach=outreach)
        assert _measure_results(facts, period=period, outreach=outreach) == expected
        compared += len(expected)
    return compared


def _assert_programs_agree(rt: Runtime, *, now: datetime) -> int:
    compared = 0
    for program in load_programs().values():
        if program.load_codes is None or program.package is not None:
            continue  # published ELM logic reads whole resources, never facts
        window = resolve_window(program.definition.period, now=now)
        whole, facts = _both(rt, program.load_codes, program.always_types)
        verdicts = [
            [evaluate_record(program, PatientRecord(res), window) for _, res in loaded if res]
            for loaded in (whole, facts)
        ]
        assert verdicts[1] == verdicts[0], program.name
        compared += len(verdicts[0])
    return compared


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_shared_ecqm_case_agrees_on_facts(rt: Runtime, tmp_path: Path, folder: str) -> None:
    _without_identifiers(CASES / folder, tmp_path)
    _import(rt, tmp_path)
    assert _assert_measures_agree(rt, period="2025-01-01/2025-12-31") > 0
    assert _assert_programs_agree(rt, now=datetime(2025, 12, 1, tzinfo=UTC)) > 0


def test_the_synthea_patients_agree_on_facts_which_leave_out_names_and_contacts(
    rt: Runtime,
) -> None:
    _import(rt, SYNTHEA)
    assert _assert_measures_agree(rt, period="2020-01-01/2020-12-31") == 2 * 100 * 7
    assert _assert_programs_agree(rt, now=datetime(2020, 11, 1, tzinfo=UTC)) >= 100
    with rt.transaction() as session:
        loaded = list(load_patient_facts(session, only_codes=(), always_types=("Patient",)))
    patients = [res for _, found in loaded for res in found if res["resourceType"] == "Patient"]
    assert len(patients) == 100
    assert all("name" not in p and "telecom" not in p and "address" not in p for p in patients)
    assert all("birthDate" in p and "gender" in p for p in patients)
