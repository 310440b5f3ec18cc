"""Joint channel x send-window choice, and the context columns the engine adds to features.

Why joint: tastes are often joint ("calls at midday, never in the evening"), which an
additive model cannot express. The engine keeps the factored model (it learns fast from
every message) and adds, on top, an interaction per (channel, window) cell: pooled weights
per cell learned from everybody's covariates, and a small per-patient offset per cell.
Channel and window are then chosen together, one Thompson draw per cell, so the choice
stays exact and the propensity stays a one-dimensional integral
(:mod:`careloop.personalize.sampling`); the channel and window propensities logged per
factor are the exact marginals (sums over cells).

Context columns are appended to each patient's feature row at decision time, so learning,
which reads the features stored with each decision, sees them too: whether it is a weekend
in the patient's zone, the same for people who work days (whose window tastes bind on
weekdays only), and log(1 + messages so far / 5), whose pooled weight per channel is that
channel's fatigue slope (calls and texts wear off with use; portal messages hardly do).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import numpy as np

from careloop.personalize.arrays import BoolArray, FloatArray, IntArray

CONTEXT_NAMES = ("ctx_weekend", "ctx_weekend_x_works", "ctx_messages_log")
_WORKS_COLUMN = 10  # ``works_daytime`` in :class:`careloop.personalize.features.Featurizer`


def context_columns(
    *, features: FloatArray, timezones: tuple[str, ...], now: datetime, sent: FloatArray
) -> FloatArray:
    """N x 3: weekend, weekend x works days, log(1 + messages so far / 5)."""
    weekend_by_zone = {
        zone: float(now.astimezone(ZoneInfo(zone)).weekday() >= 5) for zone in set(timezones)
    }
    weekend = np.array([weekend_by_zone[z] for z in timezones], dtype=np.float64)
    out = np.empty((features.shape[0], len(CONTEXT_NAMES)))
    out[:, 0] = weekend
    out[:, 1] = weekend * features[:, _WORKS_COLUMN]
    out[:, 2] = np.log1p(sent / 5.0)
    return out


@dataclass(frozen=True)
class Scores:
    """Gaussian scores to draw from: means and standard deviations (N x K)."""

    mean: FloatArray
    sd: FloatArray


@dataclass(frozen=True)
class WindowScores:
    """Window scores for every channel (N x C x W); :meth:`given` picks one channel's."""

    mean: FloatArray
    var: FloatArray

    def given(self, channel: IntArray) -> Scores:
        rows = np.arange(channel.shape[0])
        return Scores(self.mean[rows, channel], np.sqrt(self.var[rows, channel]))


def channel_then_window(
    dists: FactorScores,
    cell_mean: FloatArray,
    cell_var: FloatArray,
    channel_mask: BoolArray,
    window_mask: BoolArray,
) -> tuple[Scores, WindowScores]:
    """Scores for a two-step draw: the channel first, then the window given the channel.

    A window's score given channel c is its factor score plus the (c, window) interaction.
    A channel is scored by its factor score plus its best feasible window's (mean and
    variance of that window): the channel is worth what it can do at its best time. Both
    draws are one-dimensional Thompson draws over four values, so the logged propensity
    P(channel) x P(window | channel) is exact and costs no more than the factored choice.
    """
    window_mean = dists.means[1][:, None, :] + cell_mean
    window_var = (dists.sds[1] ** 2)[:, None, :] + cell_var
    masked = np.where(window_mask[:, None, :], window_mean, -np.inf)
    best = np.argmax(masked, axis=2)  # N x C
    rows = np.arange(best.shape[0])[:, None]
    cols = np.arange(best.shape[1])[None, :]
    best_mean = np.where(np.isfinite(masked[rows, cols, best]), window_mean[rows, cols, best], 0.0)
    channel = Scores(
        mean=dists.means[0] + best_mean,
        sd=np.sqrt(dists.sds[0] ** 2 + window_var[rows, cols, best]),
    )
    return channel, WindowScores(window_mean, window_var)


class FactorScores(Protocol):
    """Per factor, means and sds (``model.ScoreDistributions``)."""

    @property
    def means(self) -> tuple[FloatArray, ...]: ...

    @property
    def sds(self) -> tuple[FloatArray, ...]: ...


@dataclass
class CellPosterior:
    """Pooled interaction weights, one block of ``dim`` weights per channel x window cell.

    Every message falls in exactly one cell, so the likelihood never couples two cells and
    a block-diagonal precision (K blocks of d x d) is exact given the factor weights; it is
    updated after them (the cells absorb what the additive part gets wrong).
    """

    mean: FloatArray  # K x d
    precision: FloatArray  # K x d x d
    prior_precision: float
    _cov: FloatArray | None = field(default=None, repr=False)

    @classmethod
    def prior(cls, cells: int, dim: int, precision: float) -> CellPosterior:
        eye = np.broadcast_to(np.eye(dim) * precision, (cells, dim, dim)).copy()
        return cls(mean=np.zeros((cells, dim)), precision=eye, prior_precision=precision)

    @property
    def cov(self) -> FloatArray:
        if self._cov is None:
            self._cov = np.asarray(np.linalg.inv(self.precision), dtype=np.float64)
        return self._cov

    def update(
        self, features: FloatArray, cells: IntArray, residual: FloatArray, weight: FloatArray
    ) -> None:
        """One Newton step per cell from the rows that fell in it."""
        for k in np.unique(cells):
            rows = cells == k
            x = features[rows]
            self.precision[k] += x.T @ (x * weight[rows, None])
            self.mean[k] += np.linalg.solve(self.precision[k], x.T @ residual[rows])
        self._cov = None

    def forget(self, keep: float) -> None:
        prior = np.eye(self.mean.shape[1]) * self.prior_precision
        self.precision = prior + (self.precision - prior) * keep
        self._cov = None

    def to_json(self) -> dict[str, Any]:
        return {
            "mean": self.mean.tolist(),
            "precision": self.precision.tolist(),
            "prior_precision": self.prior_precision,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CellPosterior:
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            precision=np.asarray(data["precision"], dtype=np.float64),
            prior_precision=float(data["prior_precision"]),
        )
