"""Logged propensities are the real probabilities of the engine's own random choices."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
from tests.personalize.conftest import PROGRAM, make_snapshot

from careloop.personalize.engine import EngineModel, PopulationBatch, decide_batch

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_choice_frequencies_match_logged_factor_propensities():
    model = EngineModel.new(PROGRAM.action_space)
    n = 20000
    history = model.empty_history(n)
    # one shared, uneven posterior so the probabilities are far from uniform
    history.offset_mean[:, 0:4] = [0.6, 0.0, -0.3, 0.2]
    history.offset_cov[:, 0:4, 0:4] *= 0.2
    snapshots = [make_snapshot(patient_id=f"p{i}") for i in range(n)]
    population = PopulationBatch.from_snapshots(snapshots, program=PROGRAM, model=model, now=NOW)
    batch = decide_batch(
        population=population,
        program=PROGRAM,
        history=history,
        model=model,
        now=NOW,
        rng=np.random.default_rng(5),
    )
    logged = batch.factor_probabilities[0][0]
    observed = np.bincount(batch.choices[:, 0], minlength=4) / n
    assert np.allclose(observed, logged, atol=0.015)
    assert np.all(batch.propensity > 0)
    assert np.all(batch.propensity <= 1)
