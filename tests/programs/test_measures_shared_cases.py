"""Every official test case (CMS125, CMS130, CMS138 x3 groups, CMS2) agrees on every population."""

from __future__ import annotations

from typing import Any

import pytest
from ecqm_cases import shared_cases

from careloop.programs.measures import service

CASES = shared_cases()


def test_all_195_shared_cases_are_collected() -> None:
    assert len(CASES) == 195


@pytest.mark.parametrize("case", CASES, ids=[f"{c['cms_id']}-{c['name']}" for c in CASES])
def test_case_agrees_with_expected_measure_report(case: dict[str, Any]) -> None:
    measure = service.find_measure(case["cms_id"])
    start, end = service.parse_period(case["period"])

    results = service.evaluate_paths([case["bundle"]], measures=[measure], start=start, end=end)

    assert [r["patient"] for r in results] == [case["patient"]]
    expected = [case["groups"][i] for i in sorted(case["groups"])]
    assert results[0]["groups"] == expected
