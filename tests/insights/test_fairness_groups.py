"""Fairness review: rates by group, ratio to the best, flags, small-cell suppression."""

from __future__ import annotations

import pytest

from careloop.insights.fairness import group_fairness
from careloop.records.demographics import age_band


def test_group_below_the_ratio_is_flagged() -> None:
    groups = ["a"] * 100 + ["b"] * 100
    selected = [i < 50 for i in range(100)] + [i < 30 for i in range(100)]

    report = group_fairness(attribute="language", groups=groups, selected=selected)

    rates = {g.group: g.selection_ratio for g in report.groups}
    assert rates == {"a": 1.0, "b": pytest.approx(0.6)}
    assert report.flagged_groups == ["b"]


def test_small_groups_are_suppressed_in_exports_and_not_judged() -> None:
    groups = ["big"] * 50 + ["tiny"] * 5
    selected = [True] * 20 + [False] * 30 + [False] * 5
    outcomes = [True] * 25 + [False] * 25 + [True] * 5

    exported = group_fairness(
        attribute="race", groups=groups, selected=selected, outcomes=outcomes
    ).export()

    tiny = next(g for g in exported["groups"] if g["group"] == "tiny")
    assert tiny["suppressed"] is True
    assert tiny["n"] is None
    assert tiny["selection_rate"] is None
    assert tiny["below_ratio"] is None
    assert exported["flagged_groups"] == []


def test_true_positive_rate_gap_is_flagged_even_with_equal_selection() -> None:
    groups = ["x"] * 40 + ["y"] * 40
    outcomes = [i < 20 for i in range(40)] * 2
    # Both groups: 20 selected. x selects its positives, y mostly its negatives.
    selected = [i < 20 for i in range(40)] + [i >= 15 and i < 35 for i in range(40)]

    report = group_fairness(attribute="sex", groups=groups, selected=selected, outcomes=outcomes)

    assert report.flagged_groups == ["y"]


@pytest.mark.parametrize(
    ("age", "band"),
    [(None, "unknown"), (0, "0-11"), (17, "12-17"), (29, "18-29"), (64, "45-64"), (101, "65+")],
)
def test_age_bands(age: int | None, band: str) -> None:
    assert age_band(age) == band
