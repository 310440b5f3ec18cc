"""The uplift of a human call over digital-only outreach, from a randomized holdout.

Staff time is the scarcest resource, so a call should go where it changes the outcome, not
where the outcome is likely anyway. Both learners estimate the conditional average treatment
effect tau(x) = P(closed | call, x) - P(closed | digital only, x):

* **T-learner**: one outcome model per arm, tau = mu1(x) - mu0(x). Simple, but each arm's
  regularisation biases the difference when the arms differ in size.
* **DR-learner** (Kennedy 2023, "Towards optimal doubly robust estimation of heterogeneous
  causal effects"): cross-fitted outcome models and the *logged* propensity e(x) give the
  pseudo-outcome  mu1 - mu0 + T (Y - mu1) / e - (1 - T)(Y - mu0) / (1 - e),  whose regression
  on x is unbiased for tau if either the outcome models or the propensities are right. The
  propensities are the randomizer's own, logged with each task, so they are exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression, Ridge

from careloop.personalize.arrays import BoolArray, FloatArray

Learner = Literal["t", "dr"]


@dataclass(frozen=True)
class UpliftModel:
    """A fitted uplift model: ``predict`` gives tau(x) in [-1, 1] and the digital-only rate."""

    learner: Learner
    control: LogisticRegression
    treated: LogisticRegression
    effect: Ridge | None

    def baseline(self, x: FloatArray) -> FloatArray:
        """P(closed | digital only, x)."""
        return np.asarray(self.control.predict_proba(x)[:, 1], dtype=np.float64)

    def predict(self, x: FloatArray) -> FloatArray:
        if self.effect is not None:
            tau = np.asarray(self.effect.predict(x), dtype=np.float64)
        else:
            tau = self.treated.predict_proba(x)[:, 1] - self.control.predict_proba(x)[:, 1]
        return np.clip(tau, -1.0, 1.0)


def _outcome_model(x: FloatArray, y: FloatArray) -> LogisticRegression:
    model = LogisticRegression(C=1.0, max_iter=500)
    if np.unique(y).size < 2:
        # One arm all closed (or none): a constant model, still a valid classifier.
        y = y.copy()
        y[0] = 1.0 - y[0]
    model.fit(x, y)
    return model


def _check(x: FloatArray, treated: BoolArray, outcome: FloatArray) -> None:
    if x.ndim != 2 or len(x) != len(treated) or len(x) != len(outcome):
        raise ValueError("features, treatment and outcome must have one row per task")
    if treated.all() or not treated.any():
        raise ValueError("the holdout needs both called and digital-only tasks")


def fit_t_learner(x: FloatArray, treated: BoolArray, outcome: FloatArray) -> UpliftModel:
    """One logistic model per arm."""
    _check(x, treated, outcome)
    return _per_arm("t", x, treated, outcome, effect=None)


def _per_arm(
    learner: Learner,
    x: FloatArray,
    treated: BoolArray,
    outcome: FloatArray,
    *,
    effect: Ridge | None,
) -> UpliftModel:
    """Each learner keeps one outcome model per arm on all the data (for the arms' rates)."""
    return UpliftModel(
        learner=learner,
        control=_outcome_model(x[~treated], outcome[~treated]),
        treated=_outcome_model(x[treated], outcome[treated]),
        effect=effect,
    )


def dr_pseudo_outcome(
    *,
    treated: BoolArray,
    outcome: FloatArray,
    propensity: FloatArray,
    mu0: FloatArray,
    mu1: FloatArray,
) -> FloatArray:
    """The doubly robust score of each task (its mean is the AIPW average effect)."""
    t = treated.astype(np.float64)
    return np.asarray(
        mu1 - mu0 + t * (outcome - mu1) / propensity - (1 - t) * (outcome - mu0) / (1 - propensity),
        dtype=np.float64,
    )


def fit_dr_learner(
    x: FloatArray,
    treated: BoolArray,
    outcome: FloatArray,
    propensity: FloatArray,
    *,
    seed: int = 0,
    folds: int = 2,
) -> UpliftModel:
    """Cross-fitted DR-learner: outcome models from the other folds, exact logged propensities."""
    _check(x, treated, outcome)
    if np.any(propensity <= 0) or np.any(propensity >= 1):
        raise ValueError("logged call propensities must lie strictly between 0 and 1")
    fold = np.random.default_rng(seed).integers(0, folds, len(x))
    pseudo = np.empty(len(x))
    for k in range(folds):
        train, test = fold != k, fold == k
        if not test.any():
            continue
        if treated[train].all() or not treated[train].any():
            train = np.ones(len(x), dtype=bool)  # a tiny holdout: no cross-fitting possible
        c = _outcome_model(x[train & ~treated], outcome[train & ~treated])
        t = _outcome_model(x[train & treated], outcome[train & treated])
        pseudo[test] = dr_pseudo_outcome(
            treated=treated[test],
            outcome=outcome[test],
            propensity=propensity[test],
            mu0=c.predict_proba(x[test])[:, 1],
            mu1=t.predict_proba(x[test])[:, 1],
        )
    return _per_arm("dr", x, treated, outcome, effect=Ridge(alpha=10.0).fit(x, pseudo))


def fit_uplift(
    learner: Learner,
    x: FloatArray,
    treated: BoolArray,
    outcome: FloatArray,
    propensity: FloatArray,
    *,
    seed: int = 0,
) -> UpliftModel:
    if learner == "t":
        return fit_t_learner(x, treated, outcome)
    return fit_dr_learner(x, treated, outcome, propensity, seed=seed)
