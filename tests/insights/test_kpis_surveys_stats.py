"""NPS, CSAT and the difference-of-proportions interval used for holdout uplift."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from insights_payloads import survey

from careloop.errors import InvalidInput
from careloop.insights.kpis.surveys import answers, csat, csat_by, net_promoter_score
from careloop.insights.stats import difference_of_proportions, wilson_interval


def test_nps_is_promoters_minus_detractors_in_points() -> None:
    result = net_promoter_score([10, 9, 9, 8, 7, 6, 0, 10, 3, 5])

    assert (result.promoters, result.passives, result.detractors) == (4, 2, 4)
    assert result.score == pytest.approx(0.0)


def test_nps_from_questionnaire_responses_skips_unfinished_ones() -> None:
    responses = [
        survey("ltr", 10),
        survey("ltr", 9),
        survey("ltr", 2),
        survey("ltr", 0, status="in-progress"),
        survey("other", 1),
    ]

    result = net_promoter_score(answers(responses, link_id="ltr"))

    assert result.n == 3
    assert result.score == pytest.approx(100 * (2 - 1) / 3)


def test_out_of_range_answer_names_the_field() -> None:
    with pytest.raises(InvalidInput) as error:
        net_promoter_score([11])

    assert error.value.field == "likelihood_to_recommend"


def test_csat_is_the_top_two_boxes_by_stage() -> None:
    result = csat_by([("reminder", 5), ("reminder", 4), ("reminder", 2), ("follow-up", 3)])

    assert result["reminder"].percent == pytest.approx(200 / 3)
    assert result["follow-up"].percent == pytest.approx(0.0)
    assert csat([]).percent is None


def test_newcombe_interval_matches_the_published_example() -> None:
    # Newcombe (1998), Stat Med 17:873, Table II example (a): 56/70 vs 48/80, method 10.
    result = difference_of_proportions(
        treated_successes=56, treated_n=70, control_successes=48, control_n=80
    )

    assert result.difference == pytest.approx(0.2)
    assert (result.low, result.high) == (
        pytest.approx(0.0524, abs=5e-4),
        pytest.approx(0.3339, abs=5e-4),
    )
    assert result.excludes_zero


def test_power_note_says_how_many_patients_are_needed() -> None:
    result = difference_of_proportions(
        treated_successes=18, treated_n=100, control_successes=22, control_n=100
    )

    assert not result.excludes_zero
    assert result.n_per_arm_to_exclude_zero is not None
    assert result.n_per_arm_for_80_power is not None
    assert 100 < result.n_per_arm_to_exclude_zero < result.n_per_arm_for_80_power


@given(n=st.integers(min_value=1, max_value=5000), share=st.floats(min_value=0, max_value=1))
def test_wilson_interval_holds_the_estimate_within_zero_and_one(n: int, share: float) -> None:
    successes = round(share * n)

    low, high = wilson_interval(successes, n)

    assert 0.0 <= low <= successes / n <= high <= 1.0


@given(
    a=st.integers(min_value=0, max_value=300),
    b=st.integers(min_value=0, max_value=300),
    n1=st.integers(min_value=300, max_value=600),
    n2=st.integers(min_value=300, max_value=600),
)
def test_difference_interval_contains_the_difference(a: int, b: int, n1: int, n2: int) -> None:
    result = difference_of_proportions(
        treated_successes=a, treated_n=n1, control_successes=b, control_n=n2
    )

    assert -1.0 <= result.low <= result.difference <= result.high <= 1.0
