"""The shared eCQM test cases (expected_results.csv), one entry per case with all its groups."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

ECQM = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ecqm-qicore-2024"
COLUMNS = {
    "initial_population": "initial-population",
    "denominator": "denominator",
    "denominator_exclusion": "denominator-exclusion",
    "denominator_exception": "denominator-exception",
    "numerator": "numerator",
    "numerator_exclusion": "numerator-exclusion",
}


def shared_cases() -> list[dict[str, Any]]:
    """One row per test case: its bundle, period and the expected populations of each group."""
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    with (ECQM / "expected_results.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            key = (row["cms_id"], row["testcase_uuid"])
            case = cases.setdefault(
                key,
                {
                    "cms_id": row["cms_id"],
                    "name": row["testcase_name"],
                    "patient": row["patient_id"],
                    "bundle": ECQM / row["bundle_file"],
                    "period": f"{row['measurement_period_start']}/{row['measurement_period_end']}",
                    "groups": {},
                },
            )
            case["groups"][int(row["group_index"])] = {
                code: int(row[column]) for column, code in COLUMNS.items() if row[column] != ""
            }
    return list(cases.values())
