"""Promotion on evidence, judged against the simulator's truth.

    .venv/bin/python benchmarks/promotion.py --patients 400 --touches 20 --seed 1

The running engine (the factored engine before issue 22) serves a simulated population and
logs its decisions; candidates are compared with it on those logs only (DR with a 95 %
interval, patient bootstrap). The truth column is what each configuration really achieves
when it serves the same population (``simulate``: mean true reply probability), so the
evidence can be checked against it. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from careloop.personalize.actions import ActionSpace
from careloop.personalize.promotion import compare
from careloop.personalize.snapshot import EngineConfig
from careloop.sim.logs import pilot_logs
from careloop.sim.population import make
from careloop.sim.runner import simulate

RUNNING = EngineConfig(
    joint_channel_window=False, context_features=False, learn_offset_spread=False
)
CANDIDATES = {
    "issue-22 default": EngineConfig(),
    "exploration_floor=0.5": EngineConfig(exploration_floor=0.5),
    "same as running": RUNNING,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--touches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    population = make(args.patients, args.seed)
    started = time.perf_counter()
    logs = pilot_logs(population, touches=args.touches, seed=args.seed, config=RUNNING)
    out: dict[str, object] = {"decisions": logs.n, "candidates": {}}
    truth_running = _truth(population, RUNNING, args)
    for name, config in CANDIDATES.items():
        result, _ = compare(
            logs, space=ActionSpace(), running=RUNNING, candidate=config, patients=args.patients
        )
        out["candidates"][name] = {  # type: ignore[index]
            "dr_running": result.running["value"],
            "dr_candidate": result.candidate["value"],
            "difference": result.difference,
            "share_better": result.bootstrap["share_better"],
            "promotable": result.promotable,
            "true_difference": round(_truth(population, config, args) - truth_running, 5),
        }
    out["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(out, indent=2))


def _truth(population: object, config: EngineConfig, args: argparse.Namespace) -> float:
    report = simulate(
        population=population,  # type: ignore[arg-type]
        policies=["bandit"],
        touches=args.touches,
        seed=args.seed,
        config=config,
    )
    return float(report["policies"]["bandit"]["cumulative"])


if __name__ == "__main__":
    main()
