"""Return rate and lapsed patients: definitions, segment intervals, small cells hidden."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.errors import InvalidInput
from careloop.insights.kpis.retention import LapsePolicy, retention_kpis, visits_by_patient

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2026, 4, 1, tzinfo=UTC)
POLICY = LapsePolicy(default_days=365, by_segment={"diabetes": 183})


def _encounter(pid: str, day: str, *, status: str = "finished", klass: str = "AMB") -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Encounter",
        "status": status,
        "class": {"code": klass},
        "subject": {"reference": f"Patient/{pid}"},
        "period": {"start": f"{day}T09:00:00Z"},
    }


def test_only_visits_to_the_practice_count() -> None:
    visits = visits_by_patient(
        [
            ("a", _encounter("a", "2026-02-01")),
            ("a", _encounter("a", "2026-02-02", klass="EMER")),
            ("a", _encounter("a", "2026-02-03", status="cancelled")),
            (None, _encounter("b", "2025-12-01")),
        ]
    )
    assert visits == {
        "a": [datetime(2026, 2, 1, 9, tzinfo=UTC)],
        "b": [datetime(2025, 12, 1, 9, tzinfo=UTC)],
    }


def test_return_rate_and_lapsed_by_the_shortest_interval_of_the_segments() -> None:
    visits = visits_by_patient(
        [
            ("back", _encounter("back", "2025-11-15")),
            ("back", _encounter("back", "2026-02-01")),
            ("away", _encounter("away", "2025-11-20")),
            ("diabetic", _encounter("diabetic", "2025-08-01")),
            ("other", _encounter("other", "2025-08-01")),
        ]
    )
    segments = {"back": set(), "away": set(), "diabetic": {"diabetes"}, "other": set(), "x": set()}
    report = retention_kpis(
        visits, segments=segments, policy=POLICY, start=START, end=END, small_cell=1
    )
    assert report["overall"] == {
        "seen_before": 2,
        "returned": 1,
        "return_rate": 0.5,
        "panel": 4,
        "lapsed": 1,
        "lapsed_rate": 0.25,
        "suppressed": False,
    }
    assert report["by_segment"] == [
        {
            "segment": "diabetes",
            "seen_before": 0,
            "returned": 0,
            "return_rate": None,
            "panel": 1,
            "lapsed": 1,
            "lapsed_rate": 1.0,
            "suppressed": False,
        }
    ]


def test_small_groups_show_no_counts_or_rates() -> None:
    visits = {f"p{i}": [START - timedelta(days=400)] for i in range(3)}
    report = retention_kpis(
        visits,
        segments={p: {"diabetes"} for p in visits},
        policy=POLICY,
        start=START,
        end=END,
        small_cell=11,
    )
    row = report["by_segment"][0]
    assert (row["panel"], row["lapsed"], row["lapsed_rate"], row["suppressed"]) == (
        None,
        None,
        None,
        True,
    )


def test_a_zero_interval_is_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidInput) as caught:
        retention_kpis(
            {},
            segments={},
            policy=LapsePolicy(default_days=365, by_segment={"diabetes": 0}),
            start=START,
            end=END,
            small_cell=11,
        )
    assert caught.value.field == "lapse_days"


@given(
    st.dictionaries(
        st.sampled_from([f"p{i}" for i in range(20)]),
        st.lists(st.integers(min_value=-800, max_value=89), min_size=1, max_size=5),
    )
)
def test_returned_never_exceeds_seen_before_and_lapsed_never_exceeds_the_panel(
    days: dict[str, list[int]],
) -> None:
    visits = {
        pid: sorted(START + timedelta(days=d) for d in offsets) for pid, offsets in days.items()
    }
    overall = retention_kpis(
        visits, segments={}, policy=POLICY, start=START, end=END, small_cell=1
    )["overall"]
    assert overall["returned"] <= overall["seen_before"] <= overall["panel"] == len(visits)
    assert overall["lapsed"] <= overall["panel"]
