"""PDC (PQA method) and the PDC-trajectory risk, from FHIR MedicationDispense."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from insights_payloads import SYNTHEA, dispense

from careloop.insights.adherence import (
    AdherenceBand,
    Fill,
    adherence_risk,
    fills_from_dispenses,
    pdc_by_patient,
    pdc_trajectory,
)

START = date(2025, 1, 1)
END = date(2025, 12, 31)
LISINOPRIL = "314076"
AMLODIPINE = "197361"


def test_on_time_monthly_refills_cover_every_day() -> None:
    resources = [
        dispense(patient="p1", code=LISINOPRIL, handed_over=f"2025-{m:02d}-01", days=31)
        for m in range(1, 13)
    ]

    [result] = pdc_by_patient(
        fills_from_dispenses(resources).fills, period_start=START, period_end=END
    )

    assert result.pdc == pytest.approx(1.0)
    assert result.eligible


def test_early_refill_is_shifted_forward_not_double_counted() -> None:
    resources = [
        dispense(patient="p1", code=LISINOPRIL, handed_over="2025-10-01", days=30),
        dispense(patient="p1", code=LISINOPRIL, handed_over="2025-10-20", days=30),
    ]

    [result] = pdc_by_patient(
        fills_from_dispenses(resources).fills, period_start=START, period_end=END
    )

    # Index Oct 1 → Dec 31 is 92 days; 60 days supplied, shifted to Oct 1 - Nov 29.
    assert (result.days_in_period, result.days_covered) == (92, 60)


def test_two_drugs_of_one_class_cover_a_day_once() -> None:
    resources = [
        dispense(patient="p1", code=LISINOPRIL, handed_over="2025-12-01", days=31),
        dispense(patient="p1", code=AMLODIPINE, handed_over="2025-12-01", days=31),
    ]
    classes = {LISINOPRIL: "antihypertensive", AMLODIPINE: "antihypertensive"}

    [result] = pdc_by_patient(
        fills_from_dispenses(resources, drug_class=classes).fills,
        period_start=START,
        period_end=END,
    )

    assert result.pdc == pytest.approx(1.0)
    assert not result.eligible  # PQA: two fills on different days


def test_supply_past_the_period_end_is_cut() -> None:
    resources = [
        dispense(patient="p1", code=LISINOPRIL, handed_over="2025-11-01", days=90),
        dispense(patient="p1", code=LISINOPRIL, handed_over="2025-11-02", days=90),
    ]

    [result] = pdc_by_patient(
        fills_from_dispenses(resources).fills, period_start=START, period_end=END
    )

    assert result.pdc == pytest.approx(1.0)


def test_unusable_dispenses_are_counted_by_reason() -> None:
    good = dispense(patient="p1", code=LISINOPRIL, handed_over="2025-01-01", days=30)
    no_supply = {k: v for k, v in good.items() if k != "daysSupply"}
    resources = [
        good,
        dispense(
            patient="p1", code=LISINOPRIL, handed_over="2025-02-01", days=30, status="stopped"
        ),
        no_supply,
    ]

    parsed = fills_from_dispenses(resources)

    assert len(parsed.fills) == 1
    assert parsed.skipped == {"status stopped": 1, "no usable daysSupply": 1}


@settings(max_examples=80, deadline=None)
@given(
    gaps=st.lists(st.integers(min_value=0, max_value=80), min_size=1, max_size=12),
    supplies=st.lists(st.integers(min_value=1, max_value=120), min_size=12, max_size=12),
)
def test_pdc_is_always_between_zero_and_one(gaps: list[int], supplies: list[int]) -> None:
    day = START
    fills = []
    for gap, supply in zip(gaps, supplies, strict=False):
        day += timedelta(days=gap)
        if day > END:
            break
        fills.append(
            Fill(patient="p", drug="d", drug_class="d", handed_over=day, days_supply=supply)
        )

    results = pdc_by_patient(fills, period_start=START, period_end=END)

    assert all(0 < r.pdc <= 1 for r in results)


def _monthly(months: int, *, skip_from: int | None = None) -> list[Fill]:
    return [
        Fill(
            patient="p",
            drug="d",
            drug_class="d",
            handed_over=START + timedelta(days=30 * m),
            days_supply=30,
        )
        for m in range(months)
        if skip_from is None or m < skip_from or m % 2 == 0
    ]


def test_falling_coverage_is_high_risk_with_reasons() -> None:
    trajectory = pdc_trajectory(_monthly(12, skip_from=6), end=START + timedelta(days=359))

    risk = adherence_risk(trajectory)

    assert [round(w.pdc, 2) for w in trajectory] == [1.0, 1.0, 0.67, 0.33]
    assert risk.band is AdherenceBand.HIGH
    assert risk.reasons == [
        "covered 33% of days in the last 90 days",
        "coverage fell from 67% to 33%",
    ]


def test_steady_refills_are_low_risk() -> None:
    risk = adherence_risk(pdc_trajectory(_monthly(12), end=START + timedelta(days=359)))

    assert risk.band is AdherenceBand.LOW


def test_short_history_is_unknown_not_guessed() -> None:
    risk = adherence_risk(pdc_trajectory(_monthly(2), end=START + timedelta(days=100)))

    assert risk.band is AdherenceBand.UNKNOWN


def test_the_synthea_sample_has_no_dispenses_to_measure() -> None:
    bundles = [json.loads(p.read_text()) for p in sorted(SYNTHEA.glob("*.json"))]
    if not bundles:
        pytest.skip("shared Synthea data not available")

    parsed = fills_from_dispenses(bundles)
    requests = [
        e["resource"]
        for b in bundles
        for e in b["entry"]
        if e["resource"]["resourceType"] == "MedicationRequest"
    ]

    assert parsed.fills == []
    assert not parsed.skipped
    assert len(requests) == 698
    assert not [r for r in requests if "dispenseRequest" in r]
