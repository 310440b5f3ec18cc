"""Did the engine really personalize, or is it noise? A permutation test from the logs.

For one factor (channel, send window, ...), take the engine's per-patient choice as a fixed
policy and estimate its value on logged decisions by self-normalized IPS on that factor
alone (the factor's own propensity is logged, and factors are chosen independently given
the context). Then
shuffle the choices between patients: that keeps *what* is chosen and how often, but breaks
*who* gets it. If the real assignment beats most shuffles, the engine has learned something
about individuals; if not, its "personalization" is indistinguishable from noise.
The logs used must come after the choices were fixed, or the test flatters the engine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from careloop.errors import InvalidInput
from careloop.fielddicts import field_dict
from careloop.personalize.arrays import FloatArray, IntArray


@dataclass(frozen=True, slots=True)
class PersonalizationTest:
    factor: str
    observed: float
    shuffled_mean: float
    p_value: float
    permutations: int

    @property
    def personalized(self) -> bool:
        return self.p_value < 0.05

    def as_dict(self) -> dict[str, object]:
        return field_dict(self, personalized=self.personalized)


def personalization_test(
    *,
    factor: str,
    assignment: IntArray,
    patient: IntArray,
    logged_value: IntArray,
    factor_propensity: FloatArray,
    rewards: FloatArray,
    rng: np.random.Generator,
    permutations: int = 1000,
) -> PersonalizationTest:
    """``assignment[g]`` is the engine's value for patient ``g``; the logs are
    ``patient[i]``, ``logged_value[i]``, ``factor_propensity[i]`` and ``rewards[i]``."""
    if permutations < 1:
        raise InvalidInput("permutations must be >= 1", field="permutations")
    if np.any(factor_propensity <= 0):
        raise InvalidInput("propensities must be > 0", field="factor_propensity")
    weight = rewards / factor_propensity

    inverse = 1.0 / factor_propensity

    def value(assign: IntArray) -> float:
        # self-normalized IPS: far less variance than plain IPS when exploration is rare
        match = assign[patient] == logged_value
        total = float(inverse[match].sum())
        return float(weight[match].sum() / total) if total > 0 else 0.0

    observed = value(assignment)
    shuffled = np.empty(permutations)
    for b in range(permutations):
        shuffled[b] = value(rng.permutation(assignment))
    p_value = float((1 + np.sum(shuffled >= observed)) / (permutations + 1))
    return PersonalizationTest(
        factor=factor,
        observed=observed,
        shuffled_mean=float(shuffled.mean()),
        p_value=p_value,
        permutations=permutations,
    )
