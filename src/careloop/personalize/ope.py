"""Off-policy evaluation: how would another policy have done, judged from the logs alone?

Each logged decision carries the propensity of the action taken, so any target policy can
be scored without a new pilot. IPS is unbiased but noisy; self-normalized IPS trades a
small bias for much less variance; doubly robust adds a reward model and stays unbiased
if either the model or the propensities are right (Dudík, Langford & Li, 2011). Intervals
are normal approximations from each estimator's influence function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from careloop.errors import InvalidInput
from careloop.personalize.arrays import FloatArray


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}


@dataclass(frozen=True)
class OffPolicyReport:
    ips: Estimate
    snips: Estimate
    dr: Estimate | None
    effective_sample_size: float

    def as_dict(self) -> dict[str, object]:
        return {
            "ips": self.ips.as_dict(),
            "snips": self.snips.as_dict(),
            "dr": self.dr.as_dict() if self.dr else None,
            "effective_sample_size": self.effective_sample_size,
        }


def evaluate_policy(
    *,
    rewards: FloatArray,
    logging_propensity: FloatArray,
    target_probability: FloatArray,
    target_all: FloatArray | None = None,
    reward_model_all: FloatArray | None = None,
    logged_action: npt.NDArray[np.int64] | None = None,
    confidence: float = 0.95,
) -> OffPolicyReport:
    """Estimate the mean reward of a target policy from logged decisions.

    ``target_probability[i]`` is the target's probability of the action actually logged at
    ``i``. For doubly robust, also give ``target_all`` and ``reward_model_all`` (n x actions:
    the target's probabilities and a reward model's predictions for every action) and
    ``logged_action`` (the index of the logged action).
    """
    r = np.asarray(rewards, dtype=np.float64)
    p = np.asarray(logging_propensity, dtype=np.float64)
    pi = np.asarray(target_probability, dtype=np.float64)
    if not r.shape == p.shape == pi.shape or r.ndim != 1 or r.size == 0:
        raise InvalidInput("rewards and probabilities must be equal-length vectors", field="logs")
    if np.any(p <= 0) or np.any(p > 1):
        raise InvalidInput("logging propensities must be in (0, 1]", field="propensity")
    z = float(norm.ppf(0.5 + confidence / 2))
    n = r.size
    w = pi / p
    ips_terms = w * r
    ips = _estimate(ips_terms, z)
    mean_w = float(w.mean())
    snips_value = float(ips_terms.sum() / w.sum()) if w.sum() > 0 else 0.0
    influence = w * (r - snips_value) / (mean_w if mean_w > 0 else 1.0)
    se = float(influence.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    snips = Estimate(snips_value, snips_value - z * se, snips_value + z * se, n)
    dr: Estimate | None = None
    if target_all is not None and reward_model_all is not None and logged_action is not None:
        q = np.asarray(reward_model_all, dtype=np.float64)
        direct = (np.asarray(target_all, dtype=np.float64) * q).sum(axis=1)
        q_logged = q[np.arange(n), logged_action]
        dr = _estimate(direct + w * (r - q_logged), z)
    ess = float(w.sum() ** 2 / (w**2).sum()) if (w**2).sum() > 0 else 0.0
    return OffPolicyReport(ips=ips, snips=snips, dr=dr, effective_sample_size=ess)


def _estimate(terms: FloatArray, z: float) -> Estimate:
    n = terms.size
    value = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    return Estimate(value, value - z * se, value + z * se, n)
