"""Tastes that come in kinds: a latent-class prior over each patient's channel x window table.

Why: a patient's own replies reveal their channel x window taste cell by cell, and fifty
replies are few for sixteen cells. If tastes come in a few kinds ("texts in the evening",
"calls at midday"), a handful of replies says which kind a patient is, and the kind says
what to expect of the cells not tried yet.

Each kind k is a prior *mean* m_k for the patient's own channel and window offsets and cells
(24 numbers, the patient's deviation from what the pooled model predicts for people like
them), with the prior covariance the engine already uses. The engine's stored per-patient
state is the Gaussian (Laplace) posterior with prior mean 0: precision P = P0 + H, mean
m = P^-1 b. Moving the prior mean to m_k changes it exactly (in that approximation):

* the mean becomes m + C P0 m_k (C = P^-1, the stored covariance), the covariance stays C;
* the replies' evidence for kind k is log p(data | k) = m_k . P0 m - 1/2 m_k . (P0 - P0 C P0) m_k
  + const, so the posterior over kinds needs nothing but the stored state.

So learning is untouched (the stored state stays "with prior mean 0"); decisions draw each
value from the mixture's mean and variance (moment-matched, so the propensity of what is
drawn stays exact). The kinds themselves are learned from everybody by one EM step per batch
of rewards, in closed form, anchored at the previous estimate. They start as "prefers channel
c", "prefers window w" and "no preference", so the start is symmetric in nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from scipy.special import logsumexp

from careloop.personalize.arrays import FloatArray, IntArray
from careloop.personalize.history import HistorySummary
from careloop.personalize.joint import FactorScores

START_AMPLITUDE = 0.5  # logit lift of the liked channel or window in a starting kind
ANCHOR_PRECISION = 10.0  # the previous estimate of a kind counts as this much evidence
WEIGHT_PSEUDO_PATIENTS = 50.0  # the previous kind shares count as this many patients
WEIGHT_FLOOR = 1e-3


class KindPriors(Protocol):
    """Where the kinds live (``model.PooledPosterior``)."""

    kind_means: FloatArray | None
    kind_weights: FloatArray | None


def starting_kinds(sizes: tuple[int, ...]) -> tuple[FloatArray, FloatArray]:
    """K = channels + windows + 1 kinds over (channel offsets, window offsets, cells)."""
    channels, windows = sizes[0], sizes[1]
    dim = channels + windows + channels * windows
    means = np.zeros((channels + windows + 1, dim))
    for k in range(channels + windows):
        lifted = np.full(channels if k < channels else windows, -1.0 / 3.0)
        lifted[k if k < channels else k - channels] = 1.0
        start = 0 if k < channels else channels
        means[k, start : start + lifted.size] = START_AMPLITUDE * lifted
    weights = np.full(means.shape[0], 1.0 / means.shape[0])
    return means, weights


@dataclass(frozen=True)
class _Evidence:
    """Per patient: P0 m (N x D), and the covariance and prior precision blocks."""

    data: FloatArray
    cov_offsets: FloatArray  # N x (C+W) x (C+W)
    prior_offsets: FloatArray  # N x (C+W), diagonal
    cov_cells: FloatArray  # N x CW x CW
    prior_cells: FloatArray  # N x CW x CW


def _evidence(history: HistorySummary, rows: IntArray | slice) -> _Evidence:
    split = history.sizes[0] + history.sizes[1]
    prior_offsets = history.prior_diag[rows, :split]
    prior_cells = history.pair_prior[rows]
    data = np.hstack(
        [
            prior_offsets * history.offset_mean[rows, :split],
            np.einsum("nij,nj->ni", prior_cells, history.pair_mean[rows]),
        ]
    )
    return _Evidence(
        data=data,
        cov_offsets=history.offset_cov[rows, :split, :split],
        prior_offsets=prior_offsets,
        cov_cells=history.pair_cov[rows],
        prior_cells=prior_cells,
    )


def _projections(evidence: _Evidence, means: FloatArray) -> tuple[FloatArray, FloatArray]:
    """q = P0 m_k and s = C P0 m_k, both N x D x K."""
    split = evidence.prior_offsets.shape[1]
    q_off = evidence.prior_offsets[:, :, None] * means[:, :split].T[None, :, :]
    q_cell = np.matmul(evidence.prior_cells, means[:, split:].T[None, :, :])
    s_off = np.matmul(evidence.cov_offsets, q_off)
    s_cell = np.matmul(evidence.cov_cells, q_cell)
    return np.concatenate([q_off, q_cell], axis=1), np.concatenate([s_off, s_cell], axis=1)


def responsibilities(evidence: _Evidence, means: FloatArray, weights: FloatArray) -> FloatArray:
    """N x K posterior over kinds from the stored state alone."""
    q, s = _projections(evidence, means)
    linear = evidence.data @ means.T
    quadratic = np.einsum("dk,ndk->nk", means.T, q) - np.einsum("ndk,ndk->nk", q, s)
    logp = np.log(np.maximum(weights, WEIGHT_FLOOR))[None, :] + linear - 0.5 * quadratic
    return np.asarray(np.exp(logp - logsumexp(logp, axis=1, keepdims=True)), dtype=np.float64)


def kind_shift(pooled: KindPriors, history: HistorySummary) -> tuple[FloatArray, FloatArray]:
    """N x D mean shift and extra variance of each patient's channel, window and cell values
    under the posterior over kinds (a mixture, moment-matched)."""
    assert pooled.kind_means is not None
    assert pooled.kind_weights is not None
    evidence = _evidence(history, slice(None))
    post = responsibilities(evidence, pooled.kind_means, pooled.kind_weights)
    _, s = _projections(evidence, pooled.kind_means)
    mean = np.einsum("nk,ndk->nd", post, s)
    var = np.einsum("nk,ndk->nd", post, s**2) - mean**2
    return mean, np.maximum(var, 0.0)


def learn_kinds(pooled: KindPriors, history: HistorySummary, rows: IntArray) -> None:
    """One EM step over ``rows``: m_k = (sum r A + a I)^-1 (sum r P0 m + a m_k_prev),
    with A = P0 - P0 C P0, the information a patient's replies carry about their kind."""
    if rows.size == 0 or pooled.kind_means is None or pooled.kind_weights is None:
        return
    means, weights = pooled.kind_means, pooled.kind_weights
    evidence = _evidence(history, rows)
    post = responsibilities(evidence, means, weights)
    split = evidence.prior_offsets.shape[1]
    dim = means.shape[1]
    info = np.zeros((rows.size, dim, dim))
    p_off = evidence.prior_offsets
    info[:, :split, :split] = -p_off[:, :, None] * evidence.cov_offsets * p_off[:, None, :]
    idx = np.arange(split)
    info[:, idx, idx] += p_off
    p_cell = evidence.prior_cells
    info[:, split:, split:] = p_cell - np.matmul(np.matmul(p_cell, evidence.cov_cells), p_cell)
    gram = np.einsum("nk,nde->kde", post, info) + ANCHOR_PRECISION * np.eye(dim)[None]
    target = post.T @ evidence.data + ANCHOR_PRECISION * means
    new_means = np.linalg.solve(gram, target[:, :, None])[:, :, 0]
    share = (post.sum(axis=0) + WEIGHT_PSEUDO_PATIENTS * weights) / (
        rows.size + WEIGHT_PSEUDO_PATIENTS
    )
    pooled.kind_means = new_means
    pooled.kind_weights = share / share.sum()


@dataclass(frozen=True)
class _Scores:
    means: tuple[FloatArray, ...]
    sds: tuple[FloatArray, ...]


def with_kinds(
    pooled: KindPriors,
    history: HistorySummary,
    dists: FactorScores,
    cell_mean: FloatArray,
    cell_var: FloatArray,
) -> tuple[FactorScores, FloatArray, FloatArray]:
    """Channel, window and cell score distributions moved by the posterior over kinds."""
    shift, extra = kind_shift(pooled, history)
    channels, windows = history.sizes[0], history.sizes[1]
    means, sds = list(dists.means), list(dists.sds)
    for f, cols in ((0, slice(0, channels)), (1, slice(channels, channels + windows))):
        means[f] = means[f] + shift[:, cols]
        sds[f] = np.sqrt(sds[f] ** 2 + extra[:, cols])
    split = channels + windows
    return (
        _Scores(tuple(means), tuple(sds)),
        cell_mean + shift[:, split:].reshape(cell_mean.shape),
        cell_var + extra[:, split:].reshape(cell_var.shape),
    )
