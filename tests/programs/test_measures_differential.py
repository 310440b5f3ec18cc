"""Differential harness: hand-written definitions vs the published ELM, on every population.

Sources: the official test bundles (all 309, each evaluated by all seven measures), the 100
Synthea patients, and generated variations of the official bundles (``variations.py``:
timestamps at and past period boundaries, other UTC offsets, other status values, results of
another type). The recorded expected results are checked in test_measures_shared_cases.py.

Disagreements found and fixed while building this harness: the ELM engine read FHIR choice
elements the translator leaves untyped (``timing.repeat.bounds``) as absent, so CMS138's
"Active Pharmacotherapy" started at ``authoredOn``; it showed only when a boundsPeriod moved
one millisecond before the period (variation ``minus-1ms``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from ecqm_cases import ECQM
from variations import variations

from careloop.programs.measures import service
from careloop.programs.measures.bundles import read_patients
from careloop.programs.measures.packages import read_and_compile

SYNTHEA = ECQM.parent / "synthea-r4" / "patients"
NAMES = {
    "CMS125": "BreastCancerScreeningFHIR",
    "CMS130": "ColonCancerScreeningFHIR",
    "CMS124": "CervicalCancerScreeningFHIR",
    "CMS122": "DiabetesGlycemicStatusAssessmentGreaterThan9PercentFHIR",
    "CMS165": "ControllingHighBloodPressureFHIR",
    "CMS138": "PreventiveCareAndTobaccoUseScreeningAndCessationInterventionFHIR",
    "CMS2": "PCSDepressionScreenAndFollowUpFHIR",
}
SHARED = ("CMS125", "CMS130", "CMS138", "CMS2")


@pytest.fixture(scope="module")
def engines() -> dict[str, tuple[Any, Any]]:
    return {
        cms: (
            service.find_measure(cms),
            read_and_compile([ECQM / "measures" / n, ECQM / "libraries"])[0],
        )
        for cms, n in NAMES.items()
    }


def _disagreements(
    patients: list[tuple[str, list[dict[str, Any]]]], pair: tuple[Any, Any], period: str
) -> list[tuple[str, Any, Any]]:
    start, end = service.parse_period(period)
    hand = service.evaluate_population(patients, measures=[pair[0]], start=start, end=end)
    elm = service.evaluate_population(patients, measures=[pair[1]], start=start, end=end)
    return [
        (a["patient"], a["groups"], b["groups"])
        for a, b in zip(hand, elm, strict=True)
        if a["groups"] != b["groups"]
    ]


@pytest.mark.parametrize("cms", NAMES)
def test_engines_agree_on_every_official_bundle(cms: str, engines: Any) -> None:
    patients = list(read_patients(sorted((ECQM / "testcases").rglob("*-bundle.json"))))
    assert len(patients) == 309
    assert _disagreements(patients, engines[cms], "2025-01-01/2025-12-31") == []


@pytest.mark.parametrize("cms", NAMES)
def test_engines_agree_on_the_synthea_patients(cms: str, engines: Any) -> None:
    patients = list(read_patients([SYNTHEA]))
    assert len(patients) == 100
    assert _disagreements(patients, engines[cms], "2020-01-01/2020-12-31") == []


@pytest.mark.parametrize("cms", SHARED)
def test_engines_agree_on_generated_variations(cms: str, engines: Any, tmp_path: Path) -> None:
    checked = 0
    found = []
    for path in sorted((ECQM / "testcases" / NAMES[cms]).glob("*-bundle.json")):
        bundle = orjson.loads(path.read_bytes())
        for label, varied in variations(bundle):
            target = tmp_path / "varied.json"
            target.write_bytes(orjson.dumps(varied))
            patients = list(read_patients([target]))
            found += [
                (label, *d) for d in _disagreements(patients, engines[cms], "2025-01-01/2025-12-31")
            ]
            checked += 1
    assert checked > 400
    assert found == []
