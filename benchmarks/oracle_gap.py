"""Where the engine loses to the per-patient oracle over the last touches, by choice.

    .venv/bin/python benchmarks/oracle_gap.py --patients 1000 --touches 50 --seed 1 \
        [--population examples.populations.alt:make] [--set KEY=VALUE ...]

Runs ``careloop simulate``'s bandit (as ``oracle_ratio.py`` does) and, over the last ten
touches, splits the gap to the oracle (as a share of the oracle's engagement) by the choice
that would close it with the others kept as made: the channel x window cell, the reading
level, the tone. The cell's part is split again by what the patient's own history said of
the best cell: never tried; tried, with a reply rate at least the chosen cell's; tried, with a
lower one. For the tried ones it prints (weighted by the loss) how often each cell was tried,
the true logit gap, and the engine's own gap split into its pooled part (covariates) and the
patient's own part. Why: to see whether the engine lacks evidence or misreads it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from scipy.special import logit

from careloop.personalize.model import score_distributions
from careloop.sim import policies
from careloop.sim.runner import load_population, simulate

sys.path.insert(0, os.path.dirname(__file__))
from oracle_ratio import config_from

Record = tuple[np.ndarray, ...]


def record_late_touches(records: list[Record], first: int) -> None:
    """Wrap the bandit's ``learn`` so every touch from ``first`` on is kept (before learning)."""
    learn = policies.BanditPolicy.learn

    def keep(self: policies.BanditPolicy, touch: Any, choices: Any, rewards: Any) -> None:
        if touch.index >= first and self._features is not None and self._choices is not None:
            pooled, history, x = self.model.pooled, self.history, self._features
            dists = score_distributions(pooled, history, x)
            weights, _ = pooled.blocks()
            cells = pooled.cells
            cell_pooled = (x @ cells.mean.T).reshape(-1, 4, 4) if cells is not None else 0.0
            part = (x @ weights[0].T)[:, :, None] + (x @ weights[1].T)[:, None, :] + cell_pooled
            total = dists.means[0][:, :, None] + dists.means[1][:, None, :] + cell_pooled
            total = total + history.pair_mean.reshape(-1, 4, 4)
            records.append(
                (
                    touch.truth.copy(),
                    touch.feasible.copy(),
                    self._choices.copy(),
                    history.pair_sent.copy(),
                    history.pair_responded.copy(),
                    part,
                    total,
                )
            )
        learn(self, touch, choices, rewards)

    policies.BanditPolicy.learn = keep  # type: ignore[method-assign]


def split_gap(records: list[Record]) -> dict[str, float]:
    """The gap and its parts, as shares of the oracle's engagement."""
    sums = dict.fromkeys(
        ("gap", "cell", "reading", "tone", "untried", "tried_data_for", "tried_data_against"), 0.0
    )
    oracle = 0.0
    tried: list[tuple[float, ...]] = []
    for truth, feasible, choices, sent, replied, pooled, total in records:
        n = truth.shape[0]
        rows = np.arange(n)
        table = np.where(feasible, truth, -1.0).reshape(n, 4, 4, 3, 2)
        c, w, r, t = choices.T
        got = table[rows, c, w, r, t]
        best_any = table.reshape(n, -1).max(axis=1)
        oracle += best_any.sum()
        sums["gap"] += (best_any - got).sum()
        cells = table[rows, :, :, r, t].reshape(n, 16)
        sums["reading"] += (table[rows, c, w, :, t].max(axis=1) - got).sum()
        sums["tone"] += (table[rows, c, w, r, :].max(axis=1) - got).sum()
        best = cells.argmax(axis=1)
        bc, bw = np.divmod(best, 4)
        loss = cells.max(axis=1) - got
        sums["cell"] += loss.sum()
        n_best, r_best = sent[rows, bc, bw], replied[rows, bc, bw]
        n_got, r_got = sent[rows, c, w], replied[rows, c, w]
        lost = loss > 1e-12
        was_tried = lost & (n_best > 0)
        data_for = r_best / np.maximum(n_best, 1) >= r_got / np.maximum(n_got, 1)
        sums["untried"] += loss[lost & (n_best == 0)].sum()
        sums["tried_data_for"] += loss[was_tried & data_for].sum()
        sums["tried_data_against"] += loss[was_tried & ~data_for].sum()
        for i in np.flatnonzero(was_tried):
            tried.append(
                (
                    loss[i],
                    n_best[i],
                    r_best[i],
                    n_got[i],
                    r_got[i],
                    logit(cells[i, best[i]]) - logit(got[i]),
                    total[i, bc[i], bw[i]] - total[i, c[i], w[i]],
                    pooled[i, bc[i], bw[i]] - pooled[i, c[i], w[i]],
                )
            )
    out = {key: round(value / oracle, 4) for key, value in sums.items()}
    if tried:
        a = np.asarray(tried)
        weight = a[:, 0] / a[:, 0].sum()
        out |= {
            "tried_best_times": round(float(weight @ a[:, 1]), 1),
            "tried_best_reply_rate": round(float((weight @ a[:, 2]) / (weight @ a[:, 1])), 3),
            "chosen_times": round(float(weight @ a[:, 3]), 1),
            "chosen_reply_rate": round(float((weight @ a[:, 4]) / (weight @ a[:, 3])), 3),
            "true_logit_gap": round(float(weight @ a[:, 5]), 3),
            "engine_logit_gap": round(float(weight @ a[:, 6]), 3),
            "engine_gap_pooled": round(float(weight @ a[:, 7]), 3),
            "engine_gap_own": round(float(weight @ (a[:, 6] - a[:, 7])), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--touches", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--population", default="careloop.sim.population:make")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    sys.path.insert(0, os.getcwd())  # example populations load from the repository root
    records: list[Record] = []
    record_late_touches(records, first=max(0, args.touches - 10))
    population = load_population(args.population, n=args.patients, seed=args.seed)
    simulate(
        population=population,
        policies=["bandit"],
        touches=args.touches,
        seed=args.seed,
        config=config_from(args.set),
    )
    print(json.dumps({"population": args.population, "seed": args.seed, **split_gap(records)}))


if __name__ == "__main__":
    main()
