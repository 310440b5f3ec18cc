"""Tastes that come in kinds: a few replies say which kind a patient is, and the kind says
what to expect of the channel x window cells not tried yet."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.personalize.conftest import PROGRAM, make_snapshot

from careloop.personalize.actions import ActionSpace
from careloop.personalize.engine import EngineModel, PopulationBatch, decide_batch
from careloop.personalize.kinds import _evidence, kind_shift, responsibilities, starting_kinds
from careloop.personalize.model import PooledPosterior, update_posteriors
from careloop.personalize.snapshot import EngineConfig

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
SMS, EMAIL, VOICE, PORTAL = 0, 1, 2, 3
MORNING, MIDDAY, EVENING = 0, 1, 3


def _model_after_pilot(config: EngineConfig, n: int = 400, rounds: int = 16) -> EngineModel:
    """Random messages to two kinds of people the covariates cannot tell apart: "callers"
    answer calls and portal messages at midday, "texters" texts and emails in the evening."""
    space = ActionSpace()
    model = EngineModel.new(space, config)
    history = model.empty_history(n)
    rng = np.random.default_rng(11)
    caller = rng.random(n) < 0.5
    features = np.zeros((n, model.pooled.dim))
    features[:, 0] = 1.0
    for r in range(rounds):
        choices = np.column_stack([rng.integers(0, k, n) for k in space.sizes]).astype(np.int64)
        c, w = choices[:, 0], choices[:, 1]
        liked = np.where(
            caller,
            ((c == VOICE) | (c == PORTAL)) & (w == MIDDAY),
            ((c == SMS) | (c == EMAIL)) & (w == EVENING),
        )
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.arange(n),
            choices=choices,
            rewards=(rng.random(n) < np.where(liked, 0.8, 0.1)).astype(np.float64),
            at=NOW + timedelta(days=3 * r),
            config=model.config,
        )
    return model


def _after_two_midday_calls(model: EngineModel) -> float:
    """A new patient answers two midday calls: how much better does a midday portal message
    (never sent to them) look than an evening email, in the scores the engine draws from?"""
    history = model.empty_history(1)
    features = np.zeros((1, model.pooled.dim))
    features[0, 0] = 1.0
    for day in range(2):
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.array([0]),
            choices=np.array([[VOICE, MIDDAY, 1, 0]]),
            rewards=np.array([1.0]),
            at=NOW + timedelta(days=60 + day),
            config=model.config,
        )
    cells = history.pair_mean[0].copy()
    offsets = history.offset_mean[0].copy()
    if model.pooled.kind_means is not None:
        shift, _ = kind_shift(model.pooled, history)
        offsets[:8] += shift[0, :8]
        cells += shift[0, 8:]
    table = offsets[:4, None] + offsets[None, 4:8] + cells.reshape(4, 4)
    return float(table[PORTAL, MIDDAY] - table[EMAIL, EVENING])


def test_two_replies_say_which_kind_and_the_kind_fills_in_untried_cells():
    kinds = _model_after_pilot(EngineConfig(latent_kinds=True))
    plain = _model_after_pilot(EngineConfig())
    assert kinds.pooled.kind_means is not None
    assert plain.pooled.kind_means is None
    # without kinds, two midday calls say little about portal vs email; with them, a lot
    assert _after_two_midday_calls(kinds) > _after_two_midday_calls(plain) + 0.3
    assert _after_two_midday_calls(kinds) > 0.3
    # the kinds travel with the stored model
    again = PooledPosterior.from_json(kinds.pooled.to_json())
    assert again.kind_means is not None
    assert again.kind_weights is not None
    assert np.allclose(again.kind_means, kinds.pooled.kind_means)
    assert np.allclose(again.kind_weights, kinds.pooled.kind_weights)


def test_without_replies_the_kinds_are_the_population_shares():
    model = _model_after_pilot(EngineConfig(latent_kinds=True), n=100, rounds=4)
    assert model.pooled.kind_means is not None
    assert model.pooled.kind_weights is not None
    history = model.empty_history(3)
    post = responsibilities(
        _evidence(history, slice(None)), model.pooled.kind_means, model.pooled.kind_weights
    )
    assert np.allclose(post, model.pooled.kind_weights[None, :])


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), replies=st.integers(0, 5))
def test_the_posterior_over_kinds_matches_the_exact_gaussian_one(seed: int, replies: int) -> None:
    """log p(data | kind) from the stored state equals the Gaussian evidence computed the
    long way: information H = P - P0, data mean H^-1 b, marginal N(H^-1 b; m_k, H^-1 + P0^-1)."""
    rng = np.random.default_rng(seed)
    space = ActionSpace()
    model = EngineModel.new(space, EngineConfig(latent_kinds=True))
    means, weights = starting_kinds(space.sizes)
    means = means + rng.normal(scale=0.4, size=means.shape)
    history = model.empty_history(1)
    features = np.zeros((1, model.pooled.dim))
    features[0, 0] = 1.0
    for r in range(replies + 3):  # at least three replies so H is well conditioned enough
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.array([0]),
            choices=np.array([[r % 4, (r * 3) % 4, 1, 0]]),
            rewards=np.array([float(rng.random() < 0.5)]),
            at=NOW,
            config=EngineConfig(learn_offset_spread=False),
        )
    got = responsibilities(_evidence(history, slice(None)), means, weights)[0]
    # the long way: one Gaussian over (channel, window offsets; cells), ridge for H's null space
    prior = np.zeros((24, 24))
    cov = np.zeros((24, 24))
    prior[:8, :8] = np.diag(history.prior_diag[0, :8])
    prior[8:, 8:] = history.pair_prior[0]
    cov[:8, :8] = history.offset_cov[0, :8, :8]
    cov[8:, 8:] = history.pair_cov[0]
    mean = np.r_[history.offset_mean[0, :8], history.pair_mean[0]]
    posterior = np.linalg.inv(cov)
    b = posterior @ mean
    info = posterior - prior  # H, the replies' information
    logp = np.empty(len(weights))
    for k, m in enumerate(means):
        # log N(b-space): p(data | m) ∝ exp(b.m' - 1/2 m'.H m') integrated over m' ~ N(m, P0^-1)
        joint = info + prior
        rhs = b + prior @ m
        logp[k] = 0.5 * rhs @ np.linalg.solve(joint, rhs) - 0.5 * m @ prior @ m
    logp += np.log(weights)
    expected = np.exp(logp - logp.max())
    expected /= expected.sum()
    assert np.allclose(got, expected, atol=1e-6)


def test_choices_with_kinds_follow_the_logged_propensities():
    model = _model_after_pilot(EngineConfig(latent_kinds=True), n=200, rounds=6)
    n = 20000
    history = model.empty_history(n)
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
    for f in (0, 1):
        feasible_rows = np.flatnonzero(~batch.blocked)
        logged = batch.factor_probabilities[f][feasible_rows]
        if f == 1:  # the window given the channel: compare within the commonest channel
            common = np.bincount(batch.choices[feasible_rows, 0]).argmax()
            feasible_rows = feasible_rows[batch.choices[feasible_rows, 0] == common]
            logged = batch.factor_probabilities[1][feasible_rows]
        observed = np.bincount(batch.choices[feasible_rows, f], minlength=4) / feasible_rows.size
        assert np.allclose(observed, logged.mean(axis=0), atol=0.015)
    assert np.all(batch.propensity[~batch.blocked] > 0)
