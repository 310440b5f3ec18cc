"""Logged propensities are the real probabilities of the engine's own random choices."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from tests.personalize.conftest import PROGRAM, make_snapshot

from careloop.errors import InvalidInput
from careloop.personalize.engine import BatchDecision, EngineModel, PopulationBatch, decide_batch
from careloop.personalize.history import HistorySummary
from careloop.personalize.snapshot import EngineConfig

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _decide(model: EngineModel, history: HistorySummary, *, seed: int) -> BatchDecision:
    """One batch of decisions for ``history.n`` identical patients."""
    snapshots = [make_snapshot(patient_id=f"p{i}") for i in range(history.n)]
    population = PopulationBatch.from_snapshots(snapshots, program=PROGRAM, model=model, now=NOW)
    return decide_batch(
        population=population,
        program=PROGRAM,
        history=history,
        model=model,
        now=NOW,
        rng=np.random.default_rng(seed),
    )


@pytest.mark.parametrize("optimism", [0.0, 1.0])
def test_choice_frequencies_match_logged_factor_propensities(optimism: float):
    model = EngineModel.new(PROGRAM.action_space, EngineConfig(optimism=optimism))
    n = 20000
    history = model.empty_history(n)
    # one shared, uneven posterior so the probabilities are far from uniform
    history.offset_mean[:, 0:4] = [0.6, 0.0, -0.3, 0.2]
    history.offset_cov[:, 0:4, 0:4] *= 0.2
    batch = _decide(model, history, seed=5)
    logged = batch.factor_probabilities[0][0]
    observed = np.bincount(batch.choices[:, 0], minlength=4) / n
    assert np.allclose(observed, logged, atol=0.015)
    assert np.all(batch.propensity > 0)
    assert np.all(batch.propensity <= 1)


def _channel_shares(optimism: float) -> np.ndarray:
    """Channel shares when SMS was tried often (a sure 0.3) and voice never (0.2, unsure)."""
    model = EngineModel.new(PROGRAM.action_space, EngineConfig(optimism=optimism))
    n = 2000
    model.pooled.precision *= 1e4  # a pooled model this sure leaves the patient's offsets
    model.pooled._cache = None
    assert model.pooled.cells is not None
    model.pooled.cells.precision *= 1e4
    model.pooled.cells._cov = None
    history = model.empty_history(n)
    history.pair_cov *= 0.01
    history.offset_mean[:, 0:4] = [0.3, -2.0, 0.2, -2.0]
    history.offset_cov[:, 0:8, 0:8] = np.diag([0.01, 0.01, 0.8, 0.01] + [0.01] * 4)
    batch = _decide(model, history, seed=3)
    return np.bincount(batch.choices[:, 0], minlength=4) / n


def test_optimism_tries_the_channel_it_knows_least_about():
    """Near-greedy sampling keeps the known channel; optimism tries the untried one first."""
    assert _channel_shares(0.0)[0] > 0.75
    assert _channel_shares(0.5)[2] > 0.9


def test_optimism_out_of_range_is_refused_naming_the_field():
    with pytest.raises(InvalidInput) as error:
        EngineConfig(optimism=-1.0)
    assert error.value.field == "optimism"
