"""Hierarchical pooling learned from the data: how far, and in which directions, patients
stray from the pooled model sets how strongly each patient's offsets are shrunk toward it.

Both are one EM step per batch of rewards for the variance of the random offsets, over the
patients just updated, followed by an exact swap of the new prior into their Gaussian
posteriors (prior mean 0: P' = P - P0 + P0', m' = P'^-1 P m):

* factor offsets: one spread per factor (tone and reading level vary little between people,
  channel a lot), a diagonal prior;
* channel x window cells: a full covariance, because tastes come in kinds ("calls at midday,
  never in the evening"); with it, a reply in one cell moves the cells that go with it, and a
  patient's kind shows after a few replies instead of after every cell was tried.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from careloop.personalize.arrays import FloatArray, IntArray
from careloop.personalize.history import HistorySummary, diagonal_matrices

SPREAD_BOUNDS = (0.04, 4.0)  # variance of a patient's offset, logit scale
CELL_BOUNDS = (0.01, 16.0)  # eigenvalues of the cells' covariance
PINNED_PRECISION = 1e4  # a factor offset the cells carry instead stays within 0.01 of 0
CELL_PSEUDO_PATIENTS = 50.0  # the previous estimate counts as this many patients


class LearnedPriors(Protocol):
    """Where the learned priors live (``model.PooledPosterior``)."""

    offset_precision: FloatArray | None
    cell_offset_precision: FloatArray | None


def factored_cell_prior(
    sizes: tuple[int, ...], *, factor_precision: float, cell_precision: float
) -> tuple[FloatArray, FloatArray]:
    """Where the cells carry each patient's channel and window offsets: the factor offsets'
    prior precisions (channel and window pinned near zero) and the cells' C x C prior
    precision, chosen so the start is exactly the factored model plus independent cells:
    cov[(c, w), (c', w')] = [c = c'] / factor + [w = w'] / factor + [same cell] / cell."""
    channels, windows = sizes[0], sizes[1]
    same_channel = np.kron(np.eye(channels), np.ones((windows, windows)))
    same_window = np.kron(np.ones((channels, channels)), np.eye(windows))
    cov = (same_channel + same_window) / factor_precision
    cov += np.eye(channels * windows) / cell_precision
    offsets = np.full(sum(sizes), factor_precision)
    offsets[: channels + windows] = PINNED_PRECISION
    return offsets, np.asarray(np.linalg.inv(cov), dtype=np.float64)


def learn_offset_spread(
    pooled: LearnedPriors, history: HistorySummary, rows: IntArray, *, skip: tuple[int, ...] = ()
) -> None:
    """Per factor, tau^2 = mean of m^2 + v over ``rows``; swapped into their posteriors.
    Factors in ``skip`` (carried by the cells) keep their prior."""
    if rows.size == 0:
        return
    mean = history.offset_mean[rows]
    second = mean**2 + np.diagonal(history.offset_cov[rows], axis1=1, axis2=2)
    precision = history.prior_diag[rows[0]].copy()
    for f in range(len(history.sizes)):
        if f in skip:
            continue
        cols = history.factor_slice(f)
        spread = float(np.clip(second[:, cols].mean(), *SPREAD_BOUNDS))
        precision[cols] = 1.0 / spread
    pooled.offset_precision = precision
    old = history.prior_diag[rows]
    if np.allclose(old, precision[None, :]):
        return
    before = np.linalg.inv(history.offset_cov[rows])
    after = before + diagonal_matrices(precision[None, :] - old)
    cov = np.linalg.inv(after)
    history.offset_cov[rows] = cov
    history.offset_mean[rows] = np.einsum("nij,njk,nk->ni", cov, before, mean)
    history.prior_diag[rows] = precision


def learn_cell_covariance(pooled: LearnedPriors, history: HistorySummary, rows: IntArray) -> None:
    """The cells' prior covariance: mean of m m^T + C over ``rows``, blended with the last
    estimate (small batches do not swing it), eigenvalues bounded; swapped into ``rows``."""
    if rows.size == 0:
        return
    mean = history.pair_mean[rows]
    cov = history.pair_cov[rows]
    estimate = (np.einsum("ni,nj->ij", mean, mean) + cov.sum(axis=0)) / rows.size
    if pooled.cell_offset_precision is not None:
        previous = np.linalg.inv(pooled.cell_offset_precision)
    else:
        previous = np.linalg.inv(history.pair_prior[rows[0]])
    weight = rows.size / (rows.size + CELL_PSEUDO_PATIENTS)
    blended = weight * estimate + (1.0 - weight) * previous
    values, vectors = np.linalg.eigh((blended + blended.T) / 2.0)
    values = np.clip(values, *CELL_BOUNDS)
    precision = np.asarray((vectors / values) @ vectors.T, dtype=np.float64)
    pooled.cell_offset_precision = precision
    old = history.pair_prior[rows]
    before = np.linalg.inv(cov)
    after = before - old + precision[None, :, :]
    new_cov = np.linalg.inv(after)
    history.pair_cov[rows] = new_cov
    history.pair_mean[rows] = np.einsum("nij,njk,nk->ni", new_cov, before, mean)
    history.pair_prior[rows] = precision
