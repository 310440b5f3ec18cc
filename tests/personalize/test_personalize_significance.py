"""The permutation test tells real personalization from noise."""

from __future__ import annotations

import numpy as np

from careloop.personalize.significance import personalization_test


def _logs(*, personal: bool, seed: int):
    rng = np.random.default_rng(seed)
    patients, per_patient, k = 300, 20, 4
    best = rng.integers(k, size=patients)
    patient = np.repeat(np.arange(patients), per_patient)
    logged = rng.integers(k, size=patient.size)
    p = np.where(logged == best[patient], 0.6, 0.2) if personal else np.full(patient.size, 0.3)
    rewards = (rng.random(patient.size) < p).astype(float)
    return best, patient, logged, np.full(patient.size, 1 / k), rewards


def test_real_personalization_is_significant():
    best, patient, logged, propensity, rewards = _logs(personal=True, seed=1)
    result = personalization_test(
        factor="channel",
        assignment=best,
        patient=patient,
        logged_value=logged,
        factor_propensity=propensity,
        rewards=rewards,
        rng=np.random.default_rng(0),
        permutations=200,
    )
    assert result.personalized
    assert result.observed > result.shuffled_mean


def test_assignments_unrelated_to_replies_are_not_called_personal():
    best, patient, logged, propensity, rewards = _logs(personal=False, seed=2)
    result = personalization_test(
        factor="channel",
        assignment=best,
        patient=patient,
        logged_value=logged,
        factor_propensity=propensity,
        rewards=rewards,
        rng=np.random.default_rng(0),
        permutations=200,
    )
    assert not result.personalized
