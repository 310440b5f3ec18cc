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
import numpy.typing as npt
from scipy.special import expit

from careloop.clock import ensure_utc
from careloop.personalize.actions import ActionSpace
from careloop.personalize.joint import CellPosterior
from careloop.personalize.snapshot import EngineConfig

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_DAY = 86400.0


def _offsets(sizes: tuple[int, ...]) -> tuple[int, ...]:
    """Start of each factor's values in the flat list of all factor values."""
    out, total = [], 0
    for size in sizes:
        out.append(total)
        total += size
    return tuple(out)


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
    _cache: tuple[list[FloatArray], list[FloatArray]] | None = field(default=None, repr=False)

    @classmethod
    def prior(
        cls, space: ActionSpace, *, dim: int, precision: float, joint: bool = False
    ) -> PooledPosterior:
        """The prior; ``joint`` adds interaction weights per channel x window cell."""
        total = sum(space.sizes) * dim
        cells = space.sizes[0] * space.sizes[1]
        return cls(
            sizes=space.sizes,
            dim=dim,
            mean=np.zeros(total),
            precision=np.eye(total) * precision,
            prior_precision=precision,
            cells=CellPosterior.prior(cells, dim, precision) if joint else None,
        )

    def blocks(self) -> tuple[list[FloatArray], list[FloatArray]]:
        """Per factor: weight means (K x d) and marginal covariances (K x d x d)."""
        if self._cache is None:
            cov = _inverse(self.precision)
            means, covs = [], []
            d = self.dim
            for f, size in enumerate(self.sizes):
                start = _offsets(self.sizes)[f] * d
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
        )


@dataclass
class HistorySummary:
    """Per-patient learned state for ``n`` patients: offsets, counts, last update time.

    ``offset_mean`` (N x V) and ``offset_cov`` (N x V x V) cover all V factor values; the
    counts (messages sent and answered per factor value, and per channel x window) are what
    explanations quote.
    """

    sizes: tuple[int, ...]
    offset_mean: FloatArray
    offset_cov: FloatArray
    sent: FloatArray
    responded: FloatArray
    pair_sent: FloatArray
    pair_responded: FloatArray
    updated_at: FloatArray
    offset_prior_precision: float
    pair_mean: FloatArray
    pair_precision: FloatArray
    pair_prior_precision: float
    prior_diag: FloatArray

    @classmethod
    def empty(
        cls,
        n: int,
        space: ActionSpace,
        *,
        prior_precision: float | FloatArray,
        pair_prior_precision: float = 4.0,
    ) -> HistorySummary:
        """No history; ``prior_precision`` is one number or one per factor value."""
        sizes = space.sizes
        v = sum(sizes)
        cells = sizes[0] * sizes[1]
        prior = np.broadcast_to(np.asarray(prior_precision, dtype=np.float64), (v,))
        return cls(
            sizes=sizes,
            offset_mean=np.zeros((n, v)),
            offset_cov=np.broadcast_to(np.diag(1.0 / prior), (n, v, v)).copy(),
            sent=np.zeros((n, v)),
            responded=np.zeros((n, v)),
            pair_sent=np.zeros((n, sizes[0], sizes[1])),
            pair_responded=np.zeros((n, sizes[0], sizes[1])),
            updated_at=np.full(n, np.nan),
            offset_prior_precision=float(prior.mean()),
            pair_mean=np.zeros((n, cells)),
            pair_precision=np.full((n, cells), pair_prior_precision),
            pair_prior_precision=pair_prior_precision,
            prior_diag=np.broadcast_to(prior, (n, v)).copy(),
        )

    @property
    def n(self) -> int:
        return int(self.updated_at.shape[0])

    def factor_slice(self, f: int) -> slice:
        start = _offsets(self.sizes)[f]
        return slice(start, start + self.sizes[f])

    def take(self, rows: IntArray | list[int]) -> HistorySummary:
        """A copy holding only ``rows`` (in that order)."""
        idx = np.asarray(rows, dtype=np.int64)
        return HistorySummary(
            sizes=self.sizes,
            offset_mean=self.offset_mean[idx].copy(),
            offset_cov=self.offset_cov[idx].copy(),
            sent=self.sent[idx].copy(),
            responded=self.responded[idx].copy(),
            pair_sent=self.pair_sent[idx].copy(),
            pair_responded=self.pair_responded[idx].copy(),
            updated_at=self.updated_at[idx].copy(),
            offset_prior_precision=self.offset_prior_precision,
            pair_mean=self.pair_mean[idx].copy(),
            pair_precision=self.pair_precision[idx].copy(),
            pair_prior_precision=self.pair_prior_precision,
            prior_diag=self.prior_diag[idx].copy(),
        )

    def row_json(self, i: int) -> dict[str, Any]:
        """One patient's state, for storage with their profile."""
        return {
            "offset_mean": self.offset_mean[i].tolist(),
            "offset_cov": self.offset_cov[i].tolist(),
            "sent": self.sent[i].tolist(),
            "responded": self.responded[i].tolist(),
            "pair_sent": self.pair_sent[i].tolist(),
            "pair_responded": self.pair_responded[i].tolist(),
            "updated_at": None if np.isnan(self.updated_at[i]) else float(self.updated_at[i]),
            "pair_mean": self.pair_mean[i].tolist(),
            "pair_precision": self.pair_precision[i].tolist(),
            "prior_diag": self.prior_diag[i].tolist(),
        }

    @classmethod
    def from_rows(
        cls,
        rows: list[dict[str, Any] | None],
        space: ActionSpace,
        *,
        prior_precision: float | FloatArray,
        pair_prior_precision: float = 4.0,
    ) -> HistorySummary:
        """Rebuild from stored rows; ``None`` means a patient with no history yet (rows
        stored before cell offsets existed start those at the prior)."""
        out = cls.empty(
            len(rows),
            space,
            prior_precision=prior_precision,
            pair_prior_precision=pair_prior_precision,
        )
        for i, row in enumerate(rows):
            if not row:
                continue
            out.offset_mean[i] = row["offset_mean"]
            out.offset_cov[i] = row["offset_cov"]
            out.sent[i] = row["sent"]
            out.responded[i] = row["responded"]
            out.pair_sent[i] = row["pair_sent"]
            out.pair_responded[i] = row["pair_responded"]
            out.updated_at[i] = np.nan if row["updated_at"] is None else row["updated_at"]
            if "pair_mean" in row:
                out.pair_mean[i] = row["pair_mean"]
                out.pair_precision[i] = row["pair_precision"]
            out.prior_diag[i] = row.get("prior_diag", 1.0 / np.diagonal(out.offset_cov[i]))
        return out


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
    var += 1.0 / history.pair_precision
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
    offsets = np.asarray(_offsets(pooled.sizes), dtype=np.int64)
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
        learn_offset_spread(pooled, history, np.unique(rows))
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
    """One Laplace step on each patient's offset for the cell the reward belongs to.

    Taken after the factor offsets moved (backfitting): the cell absorbs only what the
    additive part still gets wrong, so a reply is not credited twice in full.
    """
    p = expit(_predict(pooled, history, features, rows, value_cols, cells))
    assert pooled.cells is not None
    pooled.cells.update(features, cells, rewards - p, p * (1.0 - p))
    p = expit(_predict(pooled, history, features, rows, value_cols, cells))
    history.pair_precision[rows, cells] += p * (1.0 - p)
    history.pair_mean[rows, cells] += (rewards - p) / history.pair_precision[rows, cells]


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


def _forget_pooled(pooled: PooledPosterior, now_days: float, config: EngineConfig) -> None:
    if pooled.updated_at is not None and now_days > pooled.updated_at:
        keep = 0.5 ** ((now_days - pooled.updated_at) / config.pooled_half_life_days)
        prior = np.eye(pooled.precision.shape[0]) * pooled.prior_precision
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
    cell_prior = history.pair_prior_precision
    history.pair_precision[move] = (
        cell_prior + (history.pair_precision[move] - cell_prior) * keep[:, None]
    )
    prior = _diag(history.prior_diag[move])
    precision = np.linalg.inv(history.offset_cov[move])
    precision = prior + (precision - prior) * keep[:, None, None]
    history.offset_cov[move] = np.linalg.inv(precision)


def _diag(rows: FloatArray) -> FloatArray:
    """N x V -> N x V x V diagonal matrices."""
    out = np.zeros((*rows.shape, rows.shape[1]))
    idx = np.arange(rows.shape[1])
    out[:, idx, idx] = rows
    return out


def learn_offset_spread(pooled: PooledPosterior, history: HistorySummary, rows: IntArray) -> None:
    """Hierarchical pooling learned from the data: how far patients stray from the pooled
    model, per factor, sets how strongly each patient's offsets are shrunk toward it.

    One EM step for the variance of the random offsets (tau^2 per factor = mean of m^2 + v
    over the patients just updated), then the new prior is swapped into those patients'
    posteriors exactly (Gaussian, prior mean 0: P' = P - P0 + P0', m' = P'^-1 P m).
    """
    if rows.size == 0:
        return
    mean = history.offset_mean[rows]
    second = mean**2 + np.diagonal(history.offset_cov[rows], axis1=1, axis2=2)
    precision = np.empty(mean.shape[1])
    for f in range(len(history.sizes)):
        cols = history.factor_slice(f)
        spread = float(np.clip(second[:, cols].mean(), 0.04, 4.0))
        precision[cols] = 1.0 / spread
    pooled.offset_precision = precision
    old = history.prior_diag[rows]
    if np.allclose(old, precision[None, :]):
        return
    before = np.linalg.inv(history.offset_cov[rows])
    after = before + _diag(precision[None, :] - old)
    cov = np.linalg.inv(after)
    history.offset_cov[rows] = cov
    history.offset_mean[rows] = np.einsum("nij,njk,nk->ni", cov, before, mean)
    history.prior_diag[rows] = precision
