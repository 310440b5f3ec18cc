"""Discrimination and calibration figures for a probabilistic classifier.

Calibration follows Van Calster et al. (2016, "A calibration hierarchy for risk models"):
the *slope* is the coefficient of ``logit(p)`` in a logistic regression of the outcome on it
(1 is ideal, < 1 means over-confident predictions); the *intercept* is calibration-in-the-large,
the intercept of that regression with the slope fixed at 1 (``logit(p)`` as an offset; 0 is
ideal, > 0 means risks are under-estimated on average).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq, minimize
from scipy.special import expit, logit
from sklearn.metrics import brier_score_loss, roc_auc_score

from careloop.errors import InvalidInput
from careloop.personalize.arrays import FloatArray

_EPS = 1e-6

IntArray = npt.NDArray[np.int_]


@dataclass(frozen=True, slots=True)
class Calibration:
    """Logistic recalibration of ``logit(p)`` on the outcomes."""

    slope: float
    intercept: float
    joint_intercept: float


def _logits(probabilities: FloatArray) -> FloatArray:
    return np.asarray(logit(np.clip(probabilities, _EPS, 1 - _EPS)), dtype=np.float64)


def calibration(*, y: IntArray, p: FloatArray) -> Calibration:
    """Calibration slope and intercept (see the module docstring)."""
    lp = _logits(p)
    yf = y.astype(np.float64)

    def negative_log_likelihood(params: FloatArray) -> float:
        eta = params[0] + params[1] * lp
        return float(np.sum(np.logaddexp(0.0, eta) - yf * eta))

    def gradient(params: FloatArray) -> FloatArray:
        residual = expit(params[0] + params[1] * lp) - yf
        return np.array([residual.sum(), (residual * lp).sum()])

    joint = minimize(negative_log_likelihood, np.array([0.0, 1.0]), jac=gradient, method="BFGS")
    # Calibration-in-the-large: solve sum(y - expit(a + lp)) = 0 for a (monotone in a).
    intercept = brentq(lambda a: float(np.sum(yf - expit(a + lp))), -20.0, 20.0)
    return Calibration(
        slope=float(joint.x[1]), intercept=float(intercept), joint_intercept=float(joint.x[0])
    )


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """How a flagged (high-risk) booking performs at one threshold."""

    threshold: float
    flagged: int
    flagged_share: float
    ppv: float | None
    sensitivity: float | None


def operating_point(*, y: IntArray, p: FloatArray, threshold: float) -> OperatingPoint:
    """PPV and sensitivity of flagging every booking with ``p >= threshold``."""
    flagged = p >= threshold
    n_flagged = int(flagged.sum())
    positives = int(y.sum())
    true_positives = int((flagged & (y == 1)).sum())
    return OperatingPoint(
        threshold=threshold,
        flagged=n_flagged,
        flagged_share=n_flagged / len(y) if len(y) else 0.0,
        ppv=true_positives / n_flagged if n_flagged else None,
        sensitivity=true_positives / positives if positives else None,
    )


def discrimination_and_calibration(*, y: IntArray, p: FloatArray) -> dict[str, float | int]:
    """The figures every evaluation prints: AUC, calibration slope/intercept, Brier, n."""
    if len(y) == 0:
        raise InvalidInput("no appointments to evaluate", field="csv")
    if len(set(y.tolist())) < 2:
        raise InvalidInput(
            "evaluation needs both attended and missed appointments in the file", field="csv"
        )
    cal = calibration(y=y, p=p)
    return {
        "auc": float(roc_auc_score(y, p)),
        "calibration_slope": cal.slope,
        "calibration_intercept": cal.intercept,
        "recalibration_intercept": cal.joint_intercept,
        "brier": float(brier_score_loss(y, p)),
        "brier_reference": float(np.mean(y) * (1 - np.mean(y))),
        "observed_rate": float(np.mean(y)),
        "mean_predicted": float(np.mean(p)),
        "n": len(y),
    }
