"""Hierarchical pooling learned from the data: tastes that come in kinds travel between cells."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.personalize.actions import ActionSpace
from careloop.personalize.engine import EngineModel
from careloop.personalize.history import HistorySummary, own_offsets
from careloop.personalize.model import score_distributions, update_posteriors
from careloop.personalize.pooling import learn_cell_covariance
from careloop.personalize.profile import StatedPreferences
from careloop.personalize.snapshot import EngineConfig

NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
VOICE, SMS = 2, 0
MORNING, MIDDAY, EVENING = 0, 1, 3


def _model_after_pilot(config: EngineConfig, n: int = 300, rounds: int = 16) -> EngineModel:
    """Random messages to two kinds of people the covariates cannot tell apart: "callers"
    answer calls in the morning and at midday, "texters" answer evening texts; nobody else."""
    space = ActionSpace()
    model = EngineModel.new(space, config)
    history = model.empty_history(n)
    rng = np.random.default_rng(5)
    caller = rng.random(n) < 0.5
    features = np.zeros((n, model.pooled.dim))
    features[:, 0] = 1.0
    for r in range(rounds):
        choices = np.column_stack([rng.integers(0, k, n) for k in space.sizes]).astype(np.int64)
        c, w = choices[:, 0], choices[:, 1]
        liked = np.where(caller, (c == VOICE) & (w <= MIDDAY), (c == SMS) & (w == EVENING))
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


def _morning_call_after_one_midday_call(model: EngineModel) -> float:
    """A new patient answers one midday call: how much better does a morning call look now
    than a morning text (posterior mean of the cells, pooled part included)?"""
    history = model.empty_history(1)
    features = np.zeros((1, model.pooled.dim))
    features[0, 0] = 1.0
    update_posteriors(
        pooled=model.pooled,
        history=history,
        features=features,
        rows=np.array([0]),
        choices=np.array([[VOICE, MIDDAY, 1, 0]]),
        rewards=np.array([1.0]),
        at=NOW + timedelta(days=60),
        config=EngineConfig(learn_offset_spread=False),  # the learned priors stay as learned
    )
    cells = history.pair_mean[0].reshape(4, 4)
    return float(cells[VOICE, MORNING] - cells[SMS, MORNING])


def test_one_reply_in_a_cell_moves_the_cells_that_go_with_it():
    learned = _model_after_pilot(EngineConfig(learn_cell_covariance=True))
    independent = _model_after_pilot(EngineConfig())
    assert learned.pooled.cell_offset_precision is not None
    assert independent.pooled.cell_offset_precision is None
    # with cells learned independently one midday call says nothing about morning calls
    assert abs(_morning_call_after_one_midday_call(independent)) < 1e-9
    assert _morning_call_after_one_midday_call(learned) > 0.05
    # the prior the model learned travels with it (stored and reloaded)
    from careloop.personalize.model import PooledPosterior

    again = PooledPosterior.from_json(learned.pooled.to_json())
    assert again.cell_offset_precision is not None
    assert np.allclose(again.cell_offset_precision, learned.pooled.cell_offset_precision)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 30), replies=st.integers(0, 6))
def test_swapping_in_a_learned_prior_keeps_what_the_replies_said(
    seed: int, n: int, replies: int
) -> None:
    """The prior swap is exact: posterior precision minus prior (the replies' information)
    and precision x mean are unchanged; the covariances stay symmetric positive definite."""
    rng = np.random.default_rng(seed)
    space = ActionSpace()
    history = HistorySummary.empty(n, space, prior_precision=1.0, pair_prior_precision=4.0)
    cells = history.pair_mean.shape[1]
    for _ in range(replies):  # random rank-one information per patient
        x = rng.normal(size=(n, cells))
        info = np.linalg.inv(history.pair_cov) + np.einsum("ni,nj->nij", x, x) * 0.2
        history.pair_cov = np.linalg.inv(info)
        history.pair_mean += rng.normal(scale=0.3, size=(n, cells))
    before_info = np.linalg.inv(history.pair_cov) - history.pair_prior
    before_eta = np.einsum("nij,nj->ni", np.linalg.inv(history.pair_cov), history.pair_mean)

    class Priors:
        offset_precision = None
        cell_offset_precision = None

    learn_cell_covariance(Priors(), history, np.arange(n))
    after = np.linalg.inv(history.pair_cov)
    assert np.allclose(after - history.pair_prior, before_info, atol=1e-6)
    assert np.allclose(np.einsum("nij,nj->ni", after, history.pair_mean), before_eta, atol=1e-6)
    assert np.allclose(history.pair_cov, np.transpose(history.pair_cov, (0, 2, 1)), atol=1e-9)
    assert np.all(np.linalg.eigvalsh(history.pair_cov) > 0)


def test_the_profile_shows_a_channel_taste_the_cells_carry():
    """With the cells carrying channel and window, a patient who answers calls still reads
    as someone who answers calls in their profile (the row of cells folds into the channel)."""
    model = EngineModel.new(ActionSpace(), EngineConfig(learn_cell_covariance=True))
    history = model.empty_history(1)
    features = np.zeros((1, model.pooled.dim))
    features[0, 0] = 1.0
    for day, (channel, reply) in enumerate([(VOICE, 1.0), (VOICE, 1.0), (SMS, 0.0), (SMS, 0.0)]):
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.array([0]),
            choices=np.array([[channel, day % 4, 1, 0]]),
            rewards=np.array([reply]),
            at=NOW + timedelta(days=3 * day),
            config=model.config,
        )
    assert np.abs(history.offset_mean[0, :8]).max() < 0.05  # channel, window: in the cells
    mean, sd = own_offsets(history.row_json(0), history.sizes)
    assert mean[VOICE] > 0.1 > -0.1 > mean[SMS], mean[:4]
    assert np.all(sd[:8] > 0.1)


def test_stored_state_round_trips_with_and_without_the_learned_covariance():
    for config in (EngineConfig(), EngineConfig(learn_cell_covariance=True)):
        model = EngineModel.new(ActionSpace(), config)
        history = model.empty_history(2)
        features = np.zeros((2, model.pooled.dim))
        features[:, 0] = 1.0
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=np.array([0, 0]),
            choices=np.array([[VOICE, MIDDAY, 1, 0], [SMS, EVENING, 0, 1]]),
            rewards=np.array([1.0, 0.0]),
            at=NOW,
            config=config,
        )
        rows = [history.row_json(0), None]
        assert ("pair_precision" in rows[0]) is (not config.learn_cell_covariance)
        again = HistorySummary.from_rows(
            rows,
            ActionSpace(),
            prior_precision=history.prior_diag[0],
            pair_prior_precision=config.cell_prior_precision,
            pair_prior=model.pooled.cell_offset_precision,
        )
        assert np.allclose(again.pair_cov[0], history.pair_cov[0])
        assert np.allclose(again.pair_mean[0], history.pair_mean[0])
        assert np.allclose(again.pair_prior[0], history.pair_prior[0])
        assert np.allclose(again.pair_cov[1], np.linalg.inv(again.pair_prior[1]))


def test_before_any_reply_the_uncertainty_is_about_the_patient_not_the_pooled_weights():
    """A new patient's first draws should explore their own taste (only their replies can
    reveal it), not the pooled weights (everybody's replies will): with the pooled prior at
    its default, the pooled part of every value's prior variance for a typical patient row
    stays below the patient's own part."""
    model = EngineModel.new(ActionSpace(), EngineConfig())
    history = model.empty_history(1)
    row = model.featurizer.row(
        {
            "age": 50,
            "sex": "female",
            "language": "en-US",
            "has_mobile": True,
            "has_email": True,
            "works_daytime": True,
            "education": "college",
        },
        StatedPreferences(channel="sms"),
    )
    features = np.zeros((1, model.pooled.dim))
    features[0, : row.size] = row
    features[0, row.size :] = 1.0  # the context columns, at their largest
    dists = score_distributions(model.pooled, history, features)
    own = np.diagonal(history.offset_cov[0])
    for f, sd in enumerate(dists.sds):
        pooled_var = sd[0] ** 2 - own[history.factor_slice(f)]
        assert np.all(pooled_var < own[history.factor_slice(f)])
