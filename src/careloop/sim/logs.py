"""Logged decisions from a simulated pilot, in the shape the promotion check reads.

The running engine serves a simulated population for some touches; every decision is
logged with its features, feasible values, propensity and realized reply, exactly what
the service stores. The promotion check (``personalize.promotion``) can then be judged
against the truth the simulator knows.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from careloop.personalize.actions import ActionSpace
from careloop.personalize.engine import EngineModel, PopulationBatch, decide_batch
from careloop.personalize.model import update_posteriors
from careloop.personalize.promotion import LoggedDecisions
from careloop.personalize.snapshot import EngineConfig, ProgramSpec
from careloop.sim.population import EPOCH
from careloop.sim.runner import TOUCH_EVERY, PopulationLike, snapshot_for, truth_table


def pilot_logs(
    population: PopulationLike, *, touches: int, seed: int, config: EngineConfig
) -> LoggedDecisions:
    """Run the engine with ``config`` for ``touches`` touches and return what it logged."""
    space = ActionSpace()
    program = ProgramSpec(name="pilot", purpose="pilot", action_space=space)
    model = EngineModel.new(space, config)
    patients = list(population.patients)
    n = len(patients)
    history = model.empty_history(n)
    rng = np.random.default_rng([seed, 5])
    parts: list[tuple[np.ndarray, ...]] = []
    times = []
    for t in range(touches):
        now = EPOCH + t * TOUCH_EVERY + timedelta(hours=11)
        snapshots = [snapshot_for(p, recent=()) for p in patients]
        batch = PopulationBatch.from_snapshots(snapshots, program=program, model=model, now=now)
        decided = decide_batch(
            population=batch, program=program, history=history, model=model, now=now, rng=rng
        )
        truth = truth_table(population, patients, space, t, now)
        flat = np.ravel_multi_index(tuple(decided.choices.T), space.sizes)
        rewards = (rng.random(n) < truth[np.arange(n), flat]).astype(np.float64)
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=decided.features,
            rows=np.arange(n),
            choices=decided.choices,
            rewards=rewards,
            at=now,
            config=model.config,
        )
        ok = ~decided.blocked
        parts.append(
            (
                np.flatnonzero(ok),
                decided.features[ok],
                *(m[ok] for m in decided.feasibility.masks),
                decided.choices[ok],
                decided.propensity[ok],
                rewards[ok],
                np.full(int(ok.sum()), t),
            )
        )
        times.append(now)
    cat = [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    return LoggedDecisions(
        patient=cat[0].astype(np.int64),
        features=cat[1],
        masks=tuple(m.astype(bool) for m in cat[2:6]),
        choices=cat[6].astype(np.int64),
        propensity=cat[7],
        rewards=cat[8],
        day=cat[9].astype(np.int64),
        times=tuple(times),
    )
