"""``benchmarks/oracle_bound.py``: the reference learner is told each population's truth.

The seventh pass of ``docs/personalize.md`` reads "no learner from replies reaches 90 %" from
this learner, so it must really hold the populations' true response model: with a patient's
hidden draws filled in, its design and offsets give back the simulator's probabilities, and
its posterior must move toward an action the patient answers.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from scipy.special import expit
from tests.scripts import load_benchmark

from careloop.personalize.actions import ActionSpace
from careloop.sim.population import EPOCH, DefaultPopulation
from careloop.sim.runner import TOUCH_EVERY, truth_table

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bound() -> ModuleType:
    sys.path.insert(0, str(ROOT / "examples" / "populations"))
    return load_benchmark("oracle_bound")


def _now(t: int) -> datetime:
    return EPOCH + t * TOUCH_EVERY + timedelta(hours=11)


@pytest.mark.parametrize("t", [0, 4, 33])  # a weekday, a Saturday (day 12), months later
def test_the_default_prior_with_the_true_draws_gives_the_simulators_table(
    bound: ModuleType, t: int
) -> None:
    population = DefaultPopulation(40, 3)
    prior = bound.DefaultPrior(population.patients)
    theta = np.concatenate(
        [
            population.base[:, None],
            *population.individual,
            *population.drift,
            population.fatigue[:, None],
        ],
        axis=1,
    )
    truth = population.probability_table(touch=t, sent_at=_now(t) + timedelta(hours=6))
    modelled = expit(prior.offset(t) + theta @ prior.design(t).T)
    np.testing.assert_allclose(modelled, truth.reshape(40, -1), atol=1e-12)


def test_the_alternative_prior_with_the_true_draws_gives_the_simulators_table(
    bound: ModuleType,
) -> None:
    import alt

    population = alt.make(30, 2)
    prior = bound.AltPrior(population.patients)
    theta = np.concatenate(
        [
            population._base[:, None],
            population._joint.reshape(30, 16),
            population._reading,
            population._tone,
        ],
        axis=1,
    )
    truth = truth_table(population, population.patients, ActionSpace(), 24, _now(24))
    modelled = prior.multiplier(24) * expit(prior.offset(24) + theta @ prior.design(24).T)
    np.testing.assert_allclose(modelled, truth, atol=1e-12)


def test_replies_to_one_action_raise_its_posterior_over_an_unanswered_one(
    bound: ModuleType,
) -> None:
    population = DefaultPopulation(2, 1)
    learner = bound.BayesLearner(bound.DefaultPrior(population.patients), rule="greedy", touches=8)
    answered, ignored = 10, 50
    for t in range(8):
        choices = np.array([answered, ignored]) if t % 2 else np.array([ignored, answered])
        rewards = (choices == answered).astype(float)
        learner.learn(type("T", (), {"index": t})(), choices, rewards)
    learner._fit()
    mean, _, _ = learner._moments(8)
    # the prior rates the answered action 0.5-0.9 logits *below* the ignored one for both
    assert (mean[:, 0, answered] - mean[:, 0, ignored] > 1.0).all()
