"""Off-policy estimates agree with the truth on synthetic logs with known propensities."""

from __future__ import annotations

import numpy as np

from careloop.personalize.ope import evaluate_policy


def _logs(n: int, seed: int):
    rng = np.random.default_rng(seed)
    actions = 4
    truth = rng.uniform(0.1, 0.7, (n, actions))  # true reward probability per context/action
    logging = rng.dirichlet(np.ones(actions) * 2, n)
    logged = np.array([rng.choice(actions, p=p) for p in logging])
    rewards = (rng.random(n) < truth[np.arange(n), logged]).astype(float)
    return truth, logging, logged, rewards


def test_ips_of_the_logging_policy_is_its_observed_reward():
    _truth, logging, logged, rewards = _logs(5000, 1)
    rows = np.arange(len(logged))
    report = evaluate_policy(
        rewards=rewards,
        logging_propensity=logging[rows, logged],
        target_probability=logging[rows, logged],
    )
    assert abs(report.ips.value - rewards.mean()) < 1e-12
    assert abs(report.snips.value - rewards.mean()) < 1e-12


def test_estimates_of_a_new_policy_cover_its_true_value():
    truth, logging, logged, rewards = _logs(20000, 2)
    n = len(logged)
    rows = np.arange(n)
    target = np.zeros_like(truth)
    target[rows, np.argmax(truth, axis=1)] = 1.0  # the best action per context
    true_value = truth.max(axis=1).mean()
    noisy_model = np.clip(truth + np.random.default_rng(3).normal(0, 0.1, truth.shape), 0, 1)
    report = evaluate_policy(
        rewards=rewards,
        logging_propensity=logging[rows, logged],
        target_probability=target[rows, logged],
        target_all=target,
        reward_model_all=noisy_model,
        logged_action=logged,
    )
    assert report.ips.low <= true_value <= report.ips.high
    assert report.snips.low <= true_value <= report.snips.high
    assert report.dr is not None
    assert report.dr.low <= true_value <= report.dr.high
    assert report.dr.high - report.dr.low < report.ips.high - report.ips.low
