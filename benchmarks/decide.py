"""Decision engine throughput: batch decisions per second on one core.

    .venv/bin/python benchmarks/decide.py --patients 20000 --repeat 3 [--set KEY=VALUE ...]

Builds a population of snapshots (not timed), then times ``decide_batch`` (constraints,
Thompson sampling, exact propensities, send times) and, separately, materializing full
decisions with their sentences. The model is first trained on one simulated touch so the
posterior is not the flat prior. ``--set`` overrides an ``EngineConfig`` field (e.g.
``--set joint_channel_window=false --set context_features=false`` for the factored engine
before issue 22) so configurations can be compared on the same machine and load.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from careloop.personalize.engine import EngineModel, PopulationBatch, decide_batch
from careloop.personalize.model import update_posteriors
from careloop.personalize.snapshot import EngineConfig, ProgramSpec
from careloop.sim.population import EPOCH, make
from careloop.sim.runner import snapshot_for


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
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    program = ProgramSpec(name="bench", purpose="pilot")
    model = EngineModel.new(program.action_space, config_from(args.set))
    world = make(args.patients, 1)
    now = EPOCH + timedelta(hours=11)
    snapshots = [snapshot_for(p, recent=()) for p in world.patients]
    population = PopulationBatch.from_snapshots(snapshots, program=program, model=model, now=now)
    history = model.empty_history(args.patients)
    rng = np.random.default_rng(0)
    first = decide_batch(
        population=population, program=program, history=history, model=model, now=now, rng=rng
    )
    truth = world.probability_table(touch=0, sent_at=now).reshape(args.patients, -1)
    flat = np.ravel_multi_index(tuple(first.choices.T), program.action_space.sizes)
    rewards = (rng.random(args.patients) < truth[np.arange(args.patients), flat]).astype(float)
    update_posteriors(
        pooled=model.pooled,
        history=history,
        features=first.features,
        rows=np.arange(args.patients),
        choices=first.choices,
        rewards=rewards,
        at=now,
        config=model.config,
    )

    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        batch = decide_batch(
            population=population,
            program=program,
            history=history,
            model=model,
            now=now + timedelta(days=3),
            rng=rng,
        )
        best = min(best, time.perf_counter() - started)
    started = time.perf_counter()
    sample = min(args.patients, 2000)
    for i in range(sample):
        batch.decision(i)
    full = (time.perf_counter() - started) / sample
    print(f"patients: {args.patients} {' '.join(args.set)}")
    print(f"decide_batch: {args.patients / best:,.0f} decisions/s (best of {args.repeat})")
    print(f"full decision objects with sentences: {1 / full:,.0f} per s (materialized lazily)")


if __name__ == "__main__":
    main()
