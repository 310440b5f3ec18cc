"""The call-queue simulation: exact logged propensities, seeded reproducibility, a real gain."""

from __future__ import annotations

import numpy as np

from careloop.sim.callqueue import compare, make_cohort, pilot_propensity, run_pilot, work_queue

POP = "careloop.sim.population:make"


def test_pilot_calls_follow_the_logged_propensities() -> None:
    cohort = make_cohort(POP, n=3000, seed=4)
    treated, _ = run_pilot(cohort, seed=4)
    for p in (0.3, 0.6):
        group = cohort.call_propensity == p
        assert group.sum() > 300
        assert abs(treated[group].mean() - p) < 0.05
    assert set(np.unique(pilot_propensity(np.array([30.0, 64.9, 65.0])))) == {0.3, 0.6}


def test_true_uplift_is_a_probability_difference() -> None:
    cohort = make_cohort(POP, n=500, seed=2)
    assert np.all(cohort.closed_digital >= 0)
    assert np.all(cohort.closed_digital + cohort.uplift <= 1)


def test_queue_stops_when_the_next_call_does_not_fit() -> None:
    called = work_queue(np.array([2, 0, 1]), np.array([5.0, 5.0, 8.0]), 13.0)
    assert called.tolist() == [True, False, True]


def test_comparison_is_reproducible_with_a_seed_and_beats_due_date() -> None:
    first = compare(POP, pilot=1500, queue=600, seed=7, budgets=(0.25,))
    again = compare(POP, pilot=1500, queue=600, seed=7, budgets=(0.25,))
    assert first == again
    gaps = {row["ranking"]: row["extra_gaps"] for row in first["rows"]}
    assert gaps["oracle"] >= gaps["benefit_dr"] > gaps["due_date"]
    other = compare(POP, pilot=1500, queue=600, seed=8, budgets=(0.25,))
    assert other != first
