"""The learning model: a factored, contextual Bayesian logistic model, sampled by Thompson.

P(engage | patient i, action a) = sigmoid( sum over factors f of
    x_i · W[f, a_f]          pooled across patients through covariates x_i
  + u[i, f, a_f] )           a per-patient offset, prior N(0, 1/offset_prior_precision)

Both parts have Gaussian (Laplace) posteriors updated online: the pooled weights by one
joint Newton step per batch of rewards (Chapelle & Li, 2011), each patient's offsets by an
exact rank-one (Sherman-Morrison) step per reward, so one reply is shared between the four
factor values it could be credited to instead of being counted four times. Posteriors
forget at a half-life so drifting preferences are tracked. Choosing per factor is exact for
the joint problem: the score is a sum over factors and the feasible set is a product.
Why this model (and not one arm per action) is argued in ``docs/personalize.md``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from scipy.special import expit

from careloop.clock import ensure_utc
from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import FloatArray, IntArray
from careloop.personalize.framing import FRAMING_PRIOR_PRECISION
from careloop.personalize.history import HistorySummary, diagonal_matrices, value_offsets
from careloop.personalize.joint import CellPosterior
from careloop.personalize.pooling import (
    factored_cell_prior,
    learn_cell_covariance,
    learn_offset_spread,
)
from careloop.personalize.snapshot import EngineConfig

__all__ = ["HistorySummary", "PooledPosterior", "update_posteriors"]

_DAY = 86400.0


_INVERSES: dict[bytes, FloatArray] = {}
_INVERSES_KEPT = 16


def _inverse(precision: FloatArray) -> FloatArray:
    """``inv(precision)``, kept by content: a program's model is loaded afresh for every
    decision batch and changes only when it learns, so most loads invert a matrix seen before
    (the inversion was a tenth of the demo's pilot; hashing the matrix costs far less)."""
    digest = hashlib.blake2b(precision.tobytes(), digest_size=20)
    digest.update(repr(precision.shape).encode())
    key = digest.digest()
    found = _INVERSES.get(key)
    if found is not None:
        return found
    inverse = np.asarray(np.linalg.inv(precision), dtype=np.float64)
    inverse.setflags(write=False)  # shared between callers
    if len(_INVERSES) >= _INVERSES_KEPT:
        _INVERSES.pop(next(iter(_INVERSES)), None)
    _INVERSES[key] = inverse
    return inverse


@dataclass
class PooledPosterior:
    """Posterior of the pooled weights, one block of ``dim`` weights per factor value.

    The joint precision is kept (values of different factors are correlated through shared
    messages); Thompson sampling uses each block's marginal.
    """

    sizes: tuple[int, ...]
    dim: int
    mean: FloatArray
    precision: FloatArray
    prior_precision: float
    updated_at: float | None = None
    updates: int = 0
    cells: CellPosterior | None = None
    offset_precision: FloatArray | None = None
    cell_offset_precision: FloatArray | None = None
    _cache: tuple[list[FloatArray], list[FloatArray]] | None = field(default=None, repr=False)

    @classmethod
    def prior(
        cls,
        space: ActionSpace,
        *,
        dim: int,
        precision: float,
        joint: bool = False,
        patient_cells: bool = False,
        offset_precision: float = 1.0,
        cell_precision: float = 4.0,
    ) -> PooledPosterior:
        """The prior; ``joint`` adds interaction weights per channel x window cell, and
        ``patient_cells`` lets each patient's cells carry their channel and window offsets
        under a learned covariance (starting as the factored model's, see ``pooling``)."""
        total = sum(space.sizes) * dim
        cells = space.sizes[0] * space.sizes[1]
        learned: tuple[FloatArray, FloatArray] | tuple[None, None] = (None, None)
        if joint and patient_cells:
            learned = factored_cell_prior(
                space.sizes, factor_precision=offset_precision, cell_precision=cell_precision
            )
        return cls(
            sizes=space.sizes,
            dim=dim,
            mean=np.zeros(total),
            precision=np.diag(_prior_diagonal(space.sizes, dim, precision)),
            prior_precision=precision,
            cells=CellPosterior.prior(cells, dim, precision) if joint else None,
            offset_precision=learned[0],
            cell_offset_precision=learned[1],
        )

    def blocks(self) -> tuple[list[FloatArray], list[FloatArray]]:
        """Per factor: weight means (K x d) and marginal covariances (K x d x d)."""
        if self._cache is None:
            cov = _inverse(self.precision)
            means, covs = [], []
            d = self.dim
            for f, size in enumerate(self.sizes):
                start = value_offsets(self.sizes)[f] * d
                means.append(self.mean[start : start + size * d].reshape(size, d))
                covs.append(
                    np.stack(
                        [
                            cov[
                                start + k * d : start + (k + 1) * d,
                                start + k * d : start + (k + 1) * d,
                            ]
                            for k in range(size)
                        ]
                    )
                )
            self._cache = (means, covs)
        return self._cache

    def to_json(self) -> dict[str, Any]:
        return {
            "sizes": list(self.sizes),
            "dim": self.dim,
            "mean": self.mean.tolist(),
            "precision": self.precision.tolist(),
            "prior_precision": self.prior_precision,
            "updated_at": self.updated_at,
            "updates": self.updates,
            "cells": self.cells.to_json() if self.cells is not None else None,
            "offset_precision": (
                self.offset_precision.tolist() if self.offset_precision is not None else None
            ),
            "cell_offset_precision": (
                self.cell_offset_precision.tolist()
                if self.cell_offset_precision is not None
                else None
            ),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PooledPosterior:
        return cls(
            sizes=tuple(int(s) for s in data["sizes"]),
            dim=int(data["dim"]),
            mean=np.asarray(data["mean"], dtype=np.float64),
            precision=np.asarray(data["precision"], dtype=np.float64),
            prior_precision=float(data["prior_precision"]),
            updated_at=data.get("updated_at"),
            updates=int(data.get("updates", 0)),
            cells=CellPosterior.from_json(data["cells"]) if data.get("cells") else None,
            offset_precision=(
                np.asarray(data["offset_precision"], dtype=np.float64)
                if data.get("offset_precision")
                else None
            ),
            cell_offset_precision=(
                np.asarray(data["cell_offset_precision"], dtype=np.float64)
                if data.get("cell_offset_precision")
                else None
            ),
        )


@dataclass(frozen=True)
class ScoreDistributions:
    """Per factor, the Gaussian of each value's sampled score: means and sds (N x K)."""

    means: tuple[FloatArray, ...]
    sds: tuple[FloatArray, ...]


def score_distributions(
    pooled: PooledPosterior, history: HistorySummary, features: FloatArray
) -> ScoreDistributions:
    """Marginal posterior of each factor value's logit contribution, per patient.

    Values are sampled independently from their marginals, which is what makes the
    Thompson propensity computable exactly by one-dimensional quadrature.
    """
    means: list[FloatArray] = []
    sds: list[FloatArray] = []
    weight_means, weight_covs = pooled.blocks()
    offset_var = np.diagonal(history.offset_cov, axis1=1, axis2=2)
    for f, weights in enumerate(weight_means):
        cols = history.factor_slice(f)
        mean = features @ weights.T + history.offset_mean[:, cols]
        var = np.empty_like(mean)
        for k in range(weights.shape[0]):
            var[:, k] = np.einsum("nd,nd->n", features @ weight_covs[f][k], features)
        var += offset_var[:, cols]
        means.append(mean)
        sds.append(np.sqrt(np.maximum(var, 1e-10)))
    return ScoreDistributions(tuple(means), tuple(sds))


def cell_distributions(
    pooled: PooledPosterior, history: HistorySummary, features: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """N x channels x windows: mean and variance of each cell's interaction (pooled weights
    on the covariates plus the patient's own offset), on top of the factor scores. This is
    the distribution the engine draws from, so propensities stay exact whatever it is."""
    assert pooled.cells is not None
    cell_weights, cell_covs = pooled.cells.mean, pooled.cells.cov
    mean = features @ cell_weights.T + history.pair_mean
    # diagonal of each cell's pooled covariance only: 16 full quadratic forms per patient
    # would cost more than the rest of the decision, and this part is the smallest
    var = (features**2) @ np.diagonal(cell_covs, axis1=1, axis2=2).T
    var += np.diagonal(history.pair_cov, axis1=1, axis2=2)
    shape = (features.shape[0], history.sizes[0], history.sizes[1])
    return mean.reshape(shape), var.reshape(shape)


def update_posteriors(
    *,
    pooled: PooledPosterior,
    history: HistorySummary,
    features: FloatArray,
    rows: IntArray,
    choices: IntArray,
    rewards: FloatArray,
    at: datetime,
    config: EngineConfig,
) -> None:
    """Fold a batch of resolved rewards into both posteriors (in place; the caller owns them).

    ``rows`` index ``history`` (a patient may appear several times); ``features`` and
    ``choices`` (n x factors) describe the decisions the rewards belong to.
    """
    now_days = ensure_utc(at).timestamp() / _DAY
    _forget_pooled(pooled, now_days, config)
    _forget_patients(history, np.unique(rows), now_days, config)
    if rows.size == 0:
        return
    offsets = np.asarray(value_offsets(pooled.sizes), dtype=np.int64)
    value_cols = choices + offsets[None, :]  # n x F indices into the V factor values
    cells = choices[:, 0] * history.sizes[1] + choices[:, 1]

    # pooled: one joint Newton step over all weight blocks
    eta = _predict(pooled, history, features, rows, value_cols, cells)
    p = expit(eta)
    d = pooled.dim
    n = rows.shape[0]
    design = np.zeros((n, pooled.mean.shape[0]))
    cols = (value_cols * d)[:, :, None] + np.arange(d)[None, None, :]
    design[np.arange(n)[:, None, None], cols] = features[:, None, :]
    pooled.precision += design.T @ (design * (p * (1.0 - p))[:, None])
    pooled.mean += np.linalg.solve(pooled.precision, design.T @ (rewards - p))
    pooled._cache = None
    pooled.updates += 1

    # patients: one rank-one step per reward, in rounds so repeated patients stay exact
    order = np.argsort(rows, kind="stable")
    sorted_rows = rows[order]
    first = np.r_[0, np.flatnonzero(np.diff(sorted_rows)) + 1]
    rank = np.arange(n) - np.repeat(first, np.diff(np.r_[first, n]))
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = rank
    one_hot = np.zeros((n, history.offset_mean.shape[1]))
    one_hot[np.arange(n)[:, None], value_cols] = 1.0
    for r in range(int(ranks.max()) + 1):
        sel = np.flatnonzero(ranks == r)
        who = rows[sel]
        x = one_hot[sel]
        p = expit(_predict(pooled, history, features[sel], who, value_cols[sel], cells[sel]))
        h = p * (1.0 - p)
        cov = history.offset_cov[who]
        cx = np.einsum("nij,nj->ni", cov, x)
        s = np.einsum("ni,ni->n", x, cx)
        cov = cov - (h / (1.0 + h * s))[:, None, None] * cx[:, :, None] * cx[:, None, :]
        history.offset_cov[who] = cov
        history.offset_mean[who] += np.einsum("nij,nj->ni", cov, x) * (rewards[sel] - p)[:, None]
        if pooled.cells is not None:
            _update_cells(
                pooled, history, features[sel], who, value_cols[sel], cells[sel], rewards[sel]
            )

    if config.learn_offset_spread:
        carried = pooled.cells is not None and pooled.cell_offset_precision is not None
        learn_offset_spread(pooled, history, np.unique(rows), skip=(0, 1) if carried else ())
        if carried:
            learn_cell_covariance(pooled, history, np.unique(rows))
    np.add.at(history.sent, (rows[:, None], value_cols), 1.0)
    np.add.at(history.responded, (rows[:, None], value_cols), rewards[:, None])
    np.add.at(history.pair_sent, (rows, choices[:, 0], choices[:, 1]), 1.0)
    np.add.at(history.pair_responded, (rows, choices[:, 0], choices[:, 1]), rewards)
    history.updated_at[rows] = now_days


def _update_cells(
    pooled: PooledPosterior,
    history: HistorySummary,
    features: FloatArray,
    rows: IntArray,
    value_cols: IntArray,
    cells: IntArray,
    rewards: FloatArray,
) -> None:
    """One Laplace (rank-one) step on each patient's cell offsets for the reward's cell;
    through the learned prior covariance it moves the cells that go with it too.

    Taken after the factor offsets moved (backfitting): the cell absorbs only what the
    additive part still gets wrong, so a reply is not credited twice in full.
    """
    p = expit(_predict(pooled, history, features, rows, value_cols, cells))
    assert pooled.cells is not None
    pooled.cells.update(features, cells, rewards - p, p * (1.0 - p))
    p = expit(_predict(pooled, history, features, rows, value_cols, cells))
    h = p * (1.0 - p)
    cov = history.pair_cov[rows]
    cx = cov[np.arange(rows.shape[0]), :, cells]  # cov @ e_cell
    s = cx[np.arange(rows.shape[0]), cells]
    cov = cov - (h / (1.0 + h * s))[:, None, None] * cx[:, :, None] * cx[:, None, :]
    history.pair_cov[rows] = cov
    history.pair_mean[rows] += cov[np.arange(rows.shape[0]), :, cells] * (rewards - p)[:, None]


def _predict(
    pooled: PooledPosterior,
    history: HistorySummary,
    features: FloatArray,
    rows: IntArray,
    value_cols: IntArray,
    cells: IntArray,
) -> FloatArray:
    """Posterior-mean logit of each logged decision (factor values, plus the cell if joint)."""
    d = pooled.dim
    weights = pooled.mean.reshape(-1, d)[value_cols]  # n x F x d
    eta = np.einsum("nd,nfd->n", features, weights)
    eta += history.offset_mean[rows[:, None], value_cols].sum(axis=1)
    if pooled.cells is not None:
        eta += np.einsum("nd,nd->n", features, pooled.cells.mean[cells])
        eta += history.pair_mean[rows, cells]
    return np.asarray(eta, dtype=np.float64)


def _prior_diagonal(sizes: tuple[int, ...], dim: int, precision: float) -> FloatArray:
    """The pooled weights' prior precision: ``precision`` for every weight but the framing
    factor's, whose stated-motivation prior is calibrated on sd 1 (``framing``)."""
    diag = np.full(sum(sizes) * dim, precision)
    if len(sizes) == 5:
        diag[value_offsets(sizes)[4] * dim :] = FRAMING_PRIOR_PRECISION
    return diag


def _forget_pooled(pooled: PooledPosterior, now_days: float, config: EngineConfig) -> None:
    if pooled.updated_at is not None and now_days > pooled.updated_at:
        keep = 0.5 ** ((now_days - pooled.updated_at) / config.pooled_half_life_days)
        prior = np.diag(_prior_diagonal(pooled.sizes, pooled.dim, pooled.prior_precision))
        pooled.precision = prior + (pooled.precision - prior) * keep
        pooled._cache = None
        if pooled.cells is not None:
            pooled.cells.forget(keep)
    pooled.updated_at = now_days if pooled.updated_at is None else max(pooled.updated_at, now_days)


def _forget_patients(
    history: HistorySummary, rows: IntArray, now_days: float, config: EngineConfig
) -> None:
    """Pull each patient's precision back toward the prior by the time since their update."""
    last = history.updated_at[rows]
    elapsed = np.where(np.isnan(last), 0.0, np.maximum(now_days - last, 0.0))
    move = rows[elapsed > 0]
    if move.size == 0:
        return
    keep = 0.5 ** (elapsed[elapsed > 0] / config.patient_half_life_days)
    cell_prior = history.pair_prior[move]
    cell_precision = np.linalg.inv(history.pair_cov[move])
    cell_precision = cell_prior + (cell_precision - cell_prior) * keep[:, None, None]
    history.pair_cov[move] = np.linalg.inv(cell_precision)
    prior = diagonal_matrices(history.prior_diag[move])
    precision = np.linalg.inv(history.offset_cov[move])
    precision = prior + (precision - prior) * keep[:, None, None]
    history.offset_cov[move] = np.linalg.inv(precision)
