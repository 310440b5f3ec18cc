"""The "not improved after N weeks" rule, as a pure function."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.digitaltools.catalogue import Trend, load_tools
from careloop.digitaltools.trend import TrendStatus, judge_trend
from careloop.errors import InvalidInput

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
RULE = Trend(measure="http://loinc.org|2339-0", better="down", min_change=10, weeks=6)


def _weekly(values: list[float]) -> list[tuple[datetime, float]]:
    return [(START + timedelta(days=1 + 7 * i), v) for i, v in enumerate(values)]


def test_flat_glucose_after_six_weeks_has_not_improved() -> None:
    verdict = judge_trend(
        _weekly([152, 149, 151, 150, 153, 150, 148]), prescribed_at=START, rule=RULE,
        now=START + timedelta(weeks=6, days=2),
    )  # fmt: skip
    assert verdict.status is TrendStatus.NOT_IMPROVED
    assert (verdict.baseline, verdict.recent) == (152, 148)


def test_a_fall_of_the_goal_or_more_has_improved() -> None:
    verdict = judge_trend(
        _weekly([170, 165, 160, 158, 155, 150, 150]), prescribed_at=START, rule=RULE,
        now=START + timedelta(weeks=6, days=2),
    )  # fmt: skip
    assert verdict.status is TrendStatus.IMPROVED


def test_before_n_weeks_the_rule_says_nothing_and_without_readings_the_tool_is_unused() -> None:
    early = judge_trend(
        _weekly([150, 150]), prescribed_at=START, rule=RULE, now=START + timedelta(weeks=3)
    )
    idle = judge_trend([], prescribed_at=START, rule=RULE, now=START + timedelta(weeks=7))
    assert early.status is TrendStatus.TOO_EARLY
    assert idle.status is TrendStatus.NOT_USED


def test_now_before_the_prescription_is_refused() -> None:
    with pytest.raises(InvalidInput):
        judge_trend([], prescribed_at=START, rule=RULE, now=START - timedelta(days=1))


@given(st.lists(st.floats(min_value=40, max_value=400), min_size=2, max_size=12))
def test_readings_that_only_rise_never_count_as_improved_when_lower_is_better(
    values: list[float],
) -> None:
    rising = sorted(values)
    verdict = judge_trend(
        _weekly(rising), prescribed_at=START, rule=RULE, now=START + timedelta(weeks=12)
    )
    assert verdict.status is TrendStatus.NOT_IMPROVED


def test_the_catalogue_lists_tools_for_a_need() -> None:
    assert [t.id for t in load_tools().for_needs({"diabetes"})] == [
        "eat-well-app",
        "diabetes-class",
    ]
