"""The engine against the per-patient oracle over several seeds: mean and spread.

    .venv/bin/python benchmarks/oracle_ratio.py --patients 1000 --touches 50 --seeds 1,2,3 \
        --population careloop.sim.population:make [--set KEY=VALUE ...]

One touch's ratio moves by a few points from seed to seed (and from one random stream to
another), so a change to the engine is judged on the mean over seeds, with the last ten
touches averaged as well as touch 50. Runs ``careloop simulate``'s own ``simulate`` with
the bandit alone (the oracle comes with it); prints one line per seed and a JSON summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from careloop.personalize.snapshot import EngineConfig
from careloop.sim.runner import load_population, simulate


def config_from(pairs: list[str]) -> EngineConfig:
    """``KEY=VALUE`` pairs → an ``EngineConfig`` (booleans as true/false, numbers as floats)."""
    values: dict[str, object] = {}
    for pair in pairs:
        key, _, text = pair.partition("=")
        lowered = text.lower()
        values[key] = lowered == "true" if lowered in ("true", "false") else float(text)
    return EngineConfig(**values)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--touches", type=int, default=50)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--population", default="careloop.sim.population:make")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    config = config_from(args.set)
    sys.path.insert(0, os.getcwd())  # example populations load from the repository root
    rows: list[dict[str, float]] = []
    for seed in (int(s) for s in args.seeds.split(",")):
        population = load_population(args.population, n=args.patients, seed=seed)
        started = time.perf_counter()
        report = simulate(
            population=population,
            policies=["bandit"],
            touches=args.touches,
            seed=seed,
            config=config,
        )
        ratio = report["policies"]["bandit"]["oracle_ratio"]
        row = {
            "seed": seed,
            "at_10": ratio[min(9, len(ratio) - 1)],
            "at_end": ratio[-1],
            "last_10": round(statistics.fmean(ratio[-10:]), 5),
            "cumulative": report["policies"]["bandit"]["cumulative"],
            "seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    summary = {
        "population": args.population,
        "set": args.set,
        **{
            key: {
                "mean": round(statistics.fmean(r[key] for r in rows), 4),
                "sd": round(statistics.pstdev(r[key] for r in rows), 4),
            }
            for key in ("at_10", "at_end", "last_10", "cumulative")
        },
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
