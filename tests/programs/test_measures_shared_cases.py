"""Every official test case agrees on every population of every group.

CMS125, CMS130, CMS138 (3 groups) and CMS2 run on their hand-written definitions; CMS131 and
CMS157 (episode-based, 2 groups) have none and run from their published packages through the
ELM engine, loaded as published.
"""

from __future__ import annotations

from typing import Any

import pytest
from ecqm_cases import ECQM, shared_cases

from careloop.programs.measures import service
from careloop.programs.measures.packages import read_and_compile

CASES = shared_cases()
PACKAGED = {
    "CMS131FHIR": "DiabetesEyeExamFHIR",
    "CMS157FHIR": "OncologyPainIntensityQuantifiedFHIR",
}


@pytest.fixture(scope="module")
def loaded() -> list[Any]:
    return [
        measure
        for name in PACKAGED.values()
        for measure in read_and_compile([ECQM / "measures" / name, ECQM / "libraries"])
    ]


def test_all_309_shared_cases_are_collected() -> None:
    assert len(CASES) == 309
    assert sum(c["cms_id"] in PACKAGED for c in CASES) == 51 + 63


@pytest.mark.parametrize("case", CASES, ids=[f"{c['cms_id']}-{c['name']}" for c in CASES])
def test_case_agrees_with_expected_measure_report(case: dict[str, Any], loaded: Any) -> None:
    measure = service.find_measure(case["cms_id"], loaded=loaded)
    start, end = service.parse_period(case["period"])

    results = service.evaluate_paths([case["bundle"]], measures=[measure], start=start, end=end)

    assert [r["patient"] for r in results] == [case["patient"]]
    expected = [case["groups"][i] for i in sorted(case["groups"])]
    assert results[0]["groups"] == expected
