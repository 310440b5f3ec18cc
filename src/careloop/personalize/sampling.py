"""Thompson sampling with an exploration floor, and the exact probability of each choice.

Kept apart from the model (posteriors and their updates) because it is the part every
choice goes through: per factor, or jointly over channel x window cells. Values are drawn
independently from their marginals, which is what makes each value's probability of
winning a one-dimensional integral (Gauss-Hermite quadrature); values that cannot win are
pruned first so that wide choices (16 cells) stay cheap.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.special import ndtr

from careloop.personalize.arrays import BoolArray, FloatArray, IntArray

_PRUNE_SDS = 7.0


@dataclass(frozen=True)
class FactorChoice:
    """What Thompson sampling (with an exploration floor) picked on one factor."""

    choice: IntArray
    probabilities: FloatArray
    explored: BoolArray


def thompson_choose(
    mean: FloatArray,
    sd: FloatArray,
    mask: BoolArray,
    *,
    rng: np.random.Generator,
    exploration_floor: float,
    nodes: int,
) -> FactorChoice:
    """Sample one value per row and return the exact probability of every value.

    With probability ``exploration_floor`` the value is uniform over the feasible ones,
    otherwise it is the argmax of one posterior draw. The probability of each value is
    ``(1 - eps) * P(value has the largest draw) + eps / feasible``; the first term is a
    one-dimensional Gauss-Hermite integral, exact up to quadrature error. Every feasible
    value therefore has probability >= eps / K > 0, which keeps off-policy evaluation valid.
    """
    n, k = mean.shape
    draws = mean + sd * rng.standard_normal((n, k))
    draws[~mask] = -np.inf
    greedy = np.argmax(draws, axis=1)
    keys = rng.random((n, k))
    keys[~mask] = -1.0
    uniform = np.argmax(keys, axis=1)
    explored: BoolArray = np.less(rng.random(n), exploration_floor)
    choice = np.where(explored, uniform, greedy).astype(np.int64)

    p_ts = pruned_win_probabilities(mean, sd, mask, nodes=nodes)
    feasible = mask.sum(axis=1, keepdims=True)
    uniform_p = np.where(mask, 1.0 / np.maximum(feasible, 1), 0.0)
    probs = (1.0 - exploration_floor) * p_ts + exploration_floor * uniform_p
    return FactorChoice(choice=choice, probabilities=probs, explored=explored)


@functools.cache
def _nodes(nodes: int) -> tuple[FloatArray, FloatArray]:
    """Gauss-Hermite nodes and normalized weights (computed once per node count)."""
    z, w = np.polynomial.hermite_e.hermegauss(nodes)
    return z, w / w.sum()


def win_probabilities(
    mean: FloatArray, sd: FloatArray, mask: BoolArray, *, nodes: int
) -> FloatArray:
    """P(value v has the largest draw) for independent Gaussian draws, masked values excluded."""
    k = mean.shape[1]
    if k == 1:
        return mask.astype(np.float64)
    z, w = _nodes(nodes)
    # score of value v at each node: N x K x Q
    at_node = mean[:, :, None] + sd[:, :, None] * z[None, None, :]
    # P(draw_u < score_v) for every u (N x K(v) x K(u) x Q); a masked u has mean -inf, so
    # its factor is exactly 1, and the u == v factor is Phi(z), divided out afterwards.
    others = np.where(mask, mean, -np.inf)
    below = ndtr((at_node[:, :, None, :] - others[:, None, :, None]) / sd[:, None, :, None])
    probs = (np.prod(below, axis=2) / ndtr(z)[None, None, :]) @ w
    probs = np.where(mask, np.maximum(probs, 0.0), 0.0)
    total = probs.sum(axis=1, keepdims=True)
    return np.where(total > 0, probs / np.where(total > 0, total, 1.0), 0.0)


def pruned_win_probabilities(
    mean: FloatArray, sd: FloatArray, mask: BoolArray, *, nodes: int
) -> FloatArray:
    """:func:`_pruned_win_probabilities` once per distinct row of ``(mean, sd, mask)`` (equal
    bytes), given to every row like it: patients with equal features and no history of their
    own score alike, and each row's quadrature is its own (the same numbers alone or among
    others)."""
    n = mean.shape[0]
    if n < 2:
        return _pruned_win_probabilities(mean, sd, mask, nodes=nodes)
    rows = _row_bytes(mean, sd, mask)
    _, first, inverse = np.unique(rows, return_index=True, return_inverse=True)
    if first.size == n:
        return _pruned_win_probabilities(mean, sd, mask, nodes=nodes)
    distinct = _pruned_win_probabilities(mean[first], sd[first], mask[first], nodes=nodes)
    return distinct[inverse.reshape(-1)]


def _row_bytes(*arrays: npt.NDArray[Any]) -> npt.NDArray[np.void]:
    """Each row of ``arrays`` side by side as one opaque value (equal bytes: equal rows)."""
    n = arrays[0].shape[0]
    joined = np.hstack([np.ascontiguousarray(a).reshape(n, -1).view(np.uint8) for a in arrays])
    return np.ascontiguousarray(joined).view(np.dtype((np.void, joined.shape[1]))).reshape(n)


def _pruned_win_probabilities(
    mean: FloatArray, sd: FloatArray, mask: BoolArray, *, nodes: int
) -> FloatArray:
    """:func:`win_probabilities`, restricted row by row to the values that can still win.

    Value v is dropped when mean_v + 7 sd_v < max_u (mean_u - 7 sd_u): then P(v wins) <
    2 Phi(-7) ~ 3e-12, and the factor it contributes to the others' integrals differs from 1
    by less than that. Rows are grouped by how many values remain, so each group is one
    vectorized quadrature of its own width.
    """
    n, k = mean.shape
    out = np.zeros((n, k))
    upper = np.where(mask, mean + _PRUNE_SDS * sd, -np.inf)
    lower = np.where(mask, mean - _PRUNE_SDS * sd, -np.inf)
    candidate = mask & (upper >= lower.max(axis=1, keepdims=True))
    counts = candidate.sum(axis=1)
    order = np.argsort(~candidate, axis=1, kind="stable")
    for width in np.unique(counts):
        rows = np.flatnonzero(counts == width)
        if width == 0:
            continue
        cols = order[rows, :width]
        if width == 1:
            out[rows, cols[:, 0]] = 1.0
            continue
        every = np.ones((rows.size, int(width)), dtype=bool)
        sub = win_probabilities(
            mean[rows[:, None], cols], sd[rows[:, None], cols], every, nodes=nodes
        )
        out[rows[:, None], cols] = sub
    return out
