"""Screening only (issue 22, sixth pass; removed in the next commit): refit each patient's
offsets and cells from their full response history after every online update.

The online update takes one Laplace step per reply, linearized at the pooled model of the
day; early replies are therefore read against a pooled model that has since moved. The refit
re-linearizes: per patient, Newton steps on the joint MAP of the 13 factor offsets and 16
cells (or the offsets alone, cells held at their online means) under the learned priors,
given the *current* pooled means, each reply weighted by 0.5 ** (age / half_life).

Driven from the simulator by ``hook()`` (wraps ``BanditPolicy.learn``), then
``benchmarks/oracle_ratio.py`` as usual; settings from REFIT_* environment variables.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from scipy.special import expit

from careloop.personalize.arrays import FloatArray, IntArray
from careloop.personalize.history import HistorySummary, value_offsets
from careloop.personalize.model import PooledPosterior

Log = list[tuple[FloatArray, IntArray, FloatArray, float]]


def refit(
    pooled: PooledPosterior,
    h: HistorySummary,
    log: Log,
    now: float,
    *,
    iters: int = 2,
    half_life: float = 90.0,
    cells: bool = True,
) -> None:
    n, sizes = h.n, h.sizes
    v = sum(sizes)
    c_count = sizes[0] * sizes[1]
    width = v + c_count
    d = pooled.dim
    offs = np.asarray(value_offsets(sizes))
    t_count = len(log)
    x = np.zeros((n, t_count, width))
    base = np.zeros((n, t_count))
    r = np.zeros((n, t_count))
    keep = np.zeros(t_count)
    weights = pooled.mean.reshape(-1, d)
    rows = np.arange(n)
    for t, (feats, choices, rewards, day) in enumerate(log):
        vc = choices + offs[None, :]
        cell = choices[:, 0] * sizes[1] + choices[:, 1]
        base[:, t] = np.einsum("nd,nfd->n", feats, weights[vc])
        if pooled.cells is not None:
            base[:, t] += np.einsum("nd,nd->n", feats, pooled.cells.mean[cell])
        for j in range(vc.shape[1]):
            x[rows, t, vc[:, j]] = 1.0
        x[rows, t, v + cell] = 1.0
        if not cells:
            base[:, t] += h.pair_mean[rows, cell]
        r[:, t] = rewards
        keep[t] = 0.5 ** ((now - day) / half_life)
    if not cells:
        x = x[:, :, :v]
        width = v
    p0 = np.zeros((n, width, width))
    idx = np.arange(v)
    p0[:, idx, idx] = h.prior_diag
    if cells:
        p0[:, v:, v:] = h.pair_prior
    theta = np.concatenate([h.offset_mean, h.pair_mean], axis=1)[:, :width]
    for _ in range(iters):
        p = expit(base + np.einsum("ntj,nj->nt", x, theta))
        w = keep[None, :] * p * (1 - p)
        hess = p0 + np.einsum("ntj,nt,ntk->njk", x, w, x)
        grad = np.einsum("ntj,nt->nj", x, keep[None, :] * (r - p))
        grad -= np.einsum("njk,nk->nj", p0, theta)
        theta = theta + np.linalg.solve(hess, grad[:, :, None])[:, :, 0]
    p = expit(base + np.einsum("ntj,nj->nt", x, theta))
    w = keep[None, :] * p * (1 - p)
    cov = np.linalg.inv(p0 + np.einsum("ntj,nt,ntk->njk", x, w, x))
    h.offset_mean[:] = theta[:, :v]
    h.offset_cov[:] = cov[:, :v, :v]
    if cells:
        h.pair_mean[:] = theta[:, v:]
        h.pair_cov[:] = cov[:, v:, v:]


def hook() -> None:
    """Refit after every online update of the simulator's bandit."""
    from careloop.sim import policies

    original = policies.BanditPolicy.learn
    iters = int(os.environ.get("REFIT_ITERS", "2"))
    half_life = float(os.environ.get("REFIT_HALF", "90"))
    cells = os.environ.get("REFIT_CELLS", "1") == "1"

    def learn(self: Any, touch: Any, choices: IntArray, rewards: FloatArray) -> None:
        feats, chosen = self._features, self._choices
        original(self, touch, choices, rewards)
        log = self.__dict__.setdefault("_refit_log", [])
        now = touch.now.timestamp() / 86400.0
        log.append((feats.copy(), chosen.copy(), rewards.copy(), now))
        refit(
            self.model.pooled,
            self.history,
            log,
            now,
            iters=iters,
            half_life=half_life,
            cells=cells,
        )

    policies.BanditPolicy.learn = learn  # type: ignore[method-assign]
