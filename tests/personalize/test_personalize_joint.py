"""Joint channel x window tastes: the engine finds them; the quadrature pruning changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.personalize.actions import ActionSpace
from careloop.personalize.engine import EngineModel
from careloop.personalize.model import update_posteriors
from careloop.personalize.promotion import action_probabilities
from careloop.personalize.sampling import pruned_win_probabilities, win_probabilities
from careloop.personalize.snapshot import EngineConfig

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def _trained(config: EngineConfig, n: int = 400, rounds: int = 12) -> tuple[Any, Any]:
    """An engine trained on uniformly random messages to people with crossed tastes: calls
    at midday and texts in the evening work, calls in the evening and texts at midday do not.
    Channel alone and window alone carry no signal."""
    space = ActionSpace()
    model = EngineModel.new(space, config)
    history = model.empty_history(n)
    rng = np.random.default_rng(11)
    features = np.zeros((n, model.pooled.dim))
    features[:, 0] = 1.0  # the bias column; the rest carry nothing
    good = {(2, 1), (0, 3)}  # (voice, midday), (sms, evening)
    for r in range(rounds):
        choices = np.column_stack([rng.integers(0, k, n) for k in space.sizes]).astype(np.int64)
        p = np.array([0.7 if (c, w) in good else 0.1 for c, w in choices[:, :2]])
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.arange(n),
            choices=choices,
            rewards=(rng.random(n) < p).astype(np.float64),
            at=NOW + timedelta(days=3 * r),
            config=model.config,
        )
    masks = (
        np.tile([True, False, True, False], (n, 1)),  # sms, voice
        np.tile([False, True, False, True], (n, 1)),  # midday, evening
        np.ones((n, 3), dtype=bool),
        np.ones((n, 2), dtype=bool),
    )
    probs = action_probabilities(model, history, features, masks)
    cells = probs.reshape(n, 4, 4, -1).sum(axis=3)
    return cells[:, 2, 1] + cells[:, 0, 3], cells


def test_the_engine_learns_a_joint_channel_window_taste_an_additive_model_cannot_express():
    joint, cells = _trained(EngineConfig())
    factored, _ = _trained(EngineConfig(joint_channel_window=False))
    assert joint.mean() >= 0.9  # both good pairings, hardly ever a bad one
    assert factored.mean() <= 0.75  # additive: voice+midday + sms+evening = the bad two
    assert np.allclose(cells.sum(axis=(1, 2)), 1.0)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    k=st.integers(2, 16),
    spread=st.floats(0.05, 3.0),
    scale=st.floats(0.01, 1.0),
)
def test_pruning_changes_no_probability(seed: int, k: int, spread: float, scale: float) -> None:
    rng = np.random.default_rng(seed)
    mean = rng.normal(0, spread, (50, k))
    sd = rng.uniform(0.2, 1.5, (50, k)) * scale
    mask = rng.random((50, k)) < 0.8
    mask[:, 0] = True
    full = win_probabilities(mean, sd, mask, nodes=24)
    pruned = pruned_win_probabilities(mean, sd, mask, nodes=24)
    assert np.allclose(full, pruned, atol=1e-9)
    assert np.allclose(pruned.sum(axis=1), 1.0)
    assert np.all(pruned[~mask] == 0)
