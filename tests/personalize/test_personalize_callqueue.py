"""The call queue: uplift learners, ranking by benefit per minute, the nurse's sentence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.personalize.callqueue import CallCandidate, explain_call, rank_calls
from careloop.personalize.uplift import dr_pseudo_outcome, fit_dr_learner, fit_t_learner

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _candidate(task_id: int, uplift: float, *, days: int = 5, rule: str = "outreach-call:flu"):
    return CallCandidate(
        task_id=task_id,
        rule_id=rule,
        due_at=NOW + timedelta(days=days),
        uplift=uplift,
        baseline=0.2,
        pronoun="she",
    )


def test_high_uplift_patient_comes_before_low_uplift_with_same_due_date() -> None:
    ranked = rank_calls([_candidate(1, 0.05), _candidate(2, 0.30)], now=NOW)
    assert [r.task_id for r in ranked] == [2, 1]
    assert [r.rank for r in ranked] == [1, 2]


def test_benefit_is_per_staff_minute() -> None:
    # Same uplift: the shorter kind of call (check-in, 6 min) beats the 8-minute one.
    ranked = rank_calls(
        [_candidate(1, 0.2, rule="outreach-call:flu"), _candidate(2, 0.2, rule="checkin-missing:x")]
    )
    assert [r.task_id for r in ranked] == [2, 1]
    assert ranked[0].minutes == 6.0
    assert ranked[0].benefit_per_minute == pytest.approx(0.2 / 6)


@given(st.lists(st.tuples(st.floats(-0.5, 0.9), st.integers(-5, 40)), min_size=1, max_size=30))
@settings(max_examples=50, deadline=None)
def test_ranking_is_a_total_order_by_benefit_then_due_date(rows: list[tuple[float, int]]) -> None:
    ranked = rank_calls([_candidate(i, u, days=d) for i, (u, d) in enumerate(rows)])
    assert sorted(r.task_id for r in ranked) == list(range(len(rows)))
    keys = [(-r.benefit_per_minute, rows[r.task_id][1], r.task_id) for r in ranked]
    assert keys == sorted(keys)


def test_explanation_is_one_readable_sentence() -> None:
    text = explain_call(_candidate(1, 0.234, days=3), 8.0, now=NOW)
    assert text == (
        "A call should raise the chance she closes the gap by 23 points "
        "(messages alone: 20 %); about 8 minutes, due in 3 days."
    )
    overdue = explain_call(_candidate(1, 0.0, days=-2), 6.0, now=NOW)
    assert overdue.startswith("A call is not expected to change whether she closes the gap")
    assert overdue.endswith("overdue by 2 days.")
    likely = explain_call(
        CallCandidate(task_id=1, rule_id="x", due_at=NOW, uplift=-0.01, baseline=0.8), 10, now=NOW
    )
    assert likely == (
        "A call is not expected to help: they would likely act on messages alone (80 % chance); "
        "about 10 minutes, due today."
    )


Holdout = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _holdout(n: int, seed: int) -> Holdout:
    rng = np.random.default_rng(seed)
    x = np.column_stack([np.ones(n), rng.integers(0, 2, n)])
    propensity = np.where(x[:, 1] == 1, 0.7, 0.2)
    treated = rng.random(n) < propensity
    tau = np.where(x[:, 1] == 1, 0.4, 0.0)
    outcome = (rng.random(n) < 0.2 + treated * tau).astype(float)
    return x, treated, outcome, propensity, tau


@pytest.mark.parametrize("learner", ["t", "dr"])
def test_learners_recover_the_uplift_of_a_randomized_holdout(learner: str) -> None:
    x, treated, outcome, propensity, _ = _holdout(6000, 3)
    model = (
        fit_t_learner(x, treated, outcome)
        if learner == "t"
        else fit_dr_learner(x, treated, outcome, propensity, seed=1)
    )
    tau = model.predict(np.array([[1.0, 0.0], [1.0, 1.0]]))
    assert tau[0] == pytest.approx(0.0, abs=0.05)
    assert tau[1] == pytest.approx(0.4, abs=0.05)


def test_dr_score_uses_the_exact_logged_propensity() -> None:
    # With a wrong outcome model the score stays unbiased only through 1/e: check the algebra.
    score = dr_pseudo_outcome(
        treated=np.array([True, False]),
        outcome=np.array([1.0, 0.0]),
        propensity=np.array([0.25, 0.25]),
        mu0=np.array([0.5, 0.5]),
        mu1=np.array([0.5, 0.5]),
    )
    assert score.tolist() == [0.0 + (1 - 0.5) / 0.25, 0.0 + 0.5 / 0.75]


def test_dr_learner_refuses_propensities_of_zero_or_one() -> None:
    x, treated, outcome, propensity, _ = _holdout(200, 1)
    propensity[0] = 1.0
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        fit_dr_learner(x, treated, outcome, propensity)
    with pytest.raises(ValueError, match="both called and digital-only"):
        fit_t_learner(x, np.ones(len(x), dtype=bool), outcome)
