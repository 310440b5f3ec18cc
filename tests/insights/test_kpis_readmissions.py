"""30-day readmissions from Encounters: real Synthea bundles and coded edge cases."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from insights_payloads import SYNTHEA

from careloop.insights.kpis.readmissions import thirty_day_readmissions


def _bundle(name_prefix: str) -> dict[str, Any]:
    matches = sorted(SYNTHEA.glob(f"{name_prefix}_*.json"))
    if not matches:
        pytest.skip("shared Synthea data not available")
    return json.loads(matches[0].read_text())


def _stay(
    start: str,
    end: str,
    *,
    patient: str = "p1",
    disposition: str | None = None,
    priority: str | None = None,
) -> dict[str, Any]:
    encounter: dict[str, Any] = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "subject": {"reference": f"Patient/{patient}"},
        "period": {"start": start, "end": end},
    }
    if disposition:
        encounter["hospitalization"] = {
            "dischargeDisposition": {
                "coding": [{"system": "http://www.nubc.org/patient-discharge", "code": disposition}]
            }
        }
    if priority:
        encounter["priority"] = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": priority}
            ]
        }
    return encounter


def test_real_bundle_with_a_readmission_20_days_after_discharge() -> None:
    # Jacob King (Synthea): inpatient stays in 1995 on Jan 4-5, Jan 25-26, Jul 25-26,
    # Sep 7-8, Oct 14-15 and Dec 25-26; only Jan 25 follows a discharge within 30 days.
    bundle = _bundle("Jacob_King")

    result = thirty_day_readmissions(
        [bundle], period_start=date(1995, 1, 1), period_end=date(1995, 12, 31)
    )

    assert (result.index_stays, result.readmitted) == (6, 1)
    assert result.rate == pytest.approx(1 / 6)


def test_whole_sample_counts_only_inpatient_encounters() -> None:
    bundles = [json.loads(p.read_text()) for p in sorted(Path(SYNTHEA).glob("*.json"))]
    if not bundles:
        pytest.skip("shared Synthea data not available")

    result = thirty_day_readmissions(
        bundles, period_start=date(1900, 1, 1), period_end=date(2021, 3, 1)
    )

    assert result.index_stays == 67
    assert 0 < result.readmitted < result.index_stays


def test_planned_readmission_is_excluded() -> None:
    stays = [
        _stay("2020-01-01T10:00:00Z", "2020-01-03T10:00:00Z"),
        _stay("2020-01-20T10:00:00Z", "2020-01-22T10:00:00Z", priority="EL"),
    ]

    result = thirty_day_readmissions(
        stays, period_start=date(2020, 1, 1), period_end=date(2020, 1, 10)
    )

    assert (result.index_stays, result.readmitted) == (1, 0)
    assert result.excluded["planned readmission"] == 1


def test_transfer_to_another_hospital_is_one_stay_not_a_readmission() -> None:
    stays = [
        _stay("2020-01-01T10:00:00Z", "2020-01-03T10:00:00Z", disposition="02"),
        _stay("2020-01-03T14:00:00Z", "2020-01-08T10:00:00Z"),
    ]

    result = thirty_day_readmissions(
        stays, period_start=date(2020, 1, 1), period_end=date(2020, 1, 31)
    )

    assert (result.index_stays, result.readmitted) == (1, 0)


def test_death_and_leaving_against_advice_are_not_index_stays() -> None:
    stays = [
        _stay("2020-01-01T10:00:00Z", "2020-01-03T10:00:00Z", disposition="07"),
        _stay("2020-01-10T10:00:00Z", "2020-01-12T10:00:00Z", disposition="20"),
    ]

    result = thirty_day_readmissions(
        stays, period_start=date(2020, 1, 1), period_end=date(2020, 1, 31)
    )

    assert result.index_stays == 0
    assert result.rate is None
    assert result.excluded["died in hospital"] == 1
    assert result.excluded["left against medical advice"] == 1


def test_readmission_after_the_period_end_still_counts() -> None:
    stays = [
        _stay("2020-01-28T10:00:00Z", "2020-01-30T10:00:00Z"),
        _stay("2020-02-15T10:00:00Z", "2020-02-16T10:00:00Z"),
    ]

    result = thirty_day_readmissions(
        stays, period_start=date(2020, 1, 1), period_end=date(2020, 1, 31)
    )

    assert (result.index_stays, result.readmitted) == (1, 1)
