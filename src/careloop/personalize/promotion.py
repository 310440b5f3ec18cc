"""Should a candidate engine configuration serve patients? Judged on the logged decisions.

Both configurations are replayed on the same logs, in time order: before each day's
decisions, each one (trained on the earlier days' rewards only, exactly as it would have
learned in service) gives its probability of every action for each logged context. Their
values are then estimated by doubly robust off-policy evaluation (Dudík, Langford & Li
2011) with a reward model cross-fitted over two halves of the patients, so neither value
uses a model fitted on its own rows. The candidate is promotable only with evidence:

* enough resolved decisions (``min_decisions``);
* the 95 % interval of the paired DR difference (candidate - running) above zero;
* the resampling check: a bootstrap over *patients* (a patient's decisions are not
  independent) puts the difference above zero in at least 97.5 % of resamples.

Why replay rather than a frozen policy: a configuration is a learning rule, and what it
would have learned from the same replies is part of what is compared.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from scipy.special import expit

from careloop.errors import InvalidInput
from careloop.fielddicts import field_dict
from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import BoolArray, FloatArray, IntArray
from careloop.personalize.engine import EngineModel
from careloop.personalize.joint import CONTEXT_NAMES, channel_then_window
from careloop.personalize.model import (
    HistorySummary,
    cell_distributions,
    score_distributions,
    update_posteriors,
)
from careloop.personalize.sampling import pruned_win_probabilities
from careloop.personalize.snapshot import EngineConfig

SERVING_FIELDS = ("weekly_budget", "budget_period")  # the caller's, never promoted

Z_975 = 1.959963984540054
"""``scipy.stats.norm.ppf(0.975)``, as scipy computes it (the 95 % two-sided interval): a
constant, so importing this module (and the outreach worker, which reaches it) no longer
loads ``scipy.stats``, ~2 s of every worker's start-up on a loaded host."""


@dataclass(frozen=True)
class LoggedDecisions:
    """Resolved decisions of one program, in time order, as arrays.

    ``features`` are as stored (covariates first, context columns if the logging engine
    had them); ``masks`` are the feasible values per factor; ``day`` numbers the replay
    batches (non-decreasing) and ``times`` gives each batch's moment.
    """

    patient: IntArray
    features: FloatArray
    masks: tuple[BoolArray, ...]
    choices: IntArray
    propensity: FloatArray
    rewards: FloatArray
    day: IntArray
    times: tuple[datetime, ...]

    @property
    def n(self) -> int:
        return int(self.rewards.shape[0])


@dataclass(frozen=True)
class Comparison:
    """DR values of both configurations, their paired difference and the resampling check."""

    decisions: int
    patients: int
    running: dict[str, float]
    candidate: dict[str, float]
    difference: dict[str, float]
    bootstrap: dict[str, float]
    promotable: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self, reasons=list(self.reasons))


def config_to_dict(config: EngineConfig) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in fields(config):
        value = getattr(config, f.name)
        out[f.name] = value.total_seconds() / 86400 if isinstance(value, timedelta) else value
    return out


def config_from_dict(data: dict[str, Any], base: EngineConfig | None = None) -> EngineConfig:
    """``data`` over ``base`` (defaults); unknown keys are a 4xx naming the key."""
    known = {f.name: f for f in fields(EngineConfig)}
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in known:
            raise InvalidInput(f"unknown engine setting {key!r}", field=key)
        current = getattr(base or EngineConfig(), key)
        values[key] = _coerce(key, raw, current)
    return replace(base or EngineConfig(), **values)


def _coerce(key: str, raw: Any, current: Any) -> Any:
    try:
        if isinstance(current, bool):
            text = str(raw).strip().lower()
            if text not in ("true", "false", "1", "0"):
                raise ValueError(text)
            return text in ("true", "1")
        if isinstance(current, timedelta):
            return timedelta(days=float(raw))
        if isinstance(current, int):
            return int(raw)
        return float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"{key} has the wrong type", field=key) from None


def replay_probabilities(
    logs: LoggedDecisions, *, space: ActionSpace, config: EngineConfig, patients: int
) -> tuple[FloatArray, EngineModel]:
    """n x actions: each logged context's action probabilities under ``config``, learning
    day by day from the logged rewards; also the model it ends with."""
    model = EngineModel.new(space, config)
    history = model.empty_history(patients)
    out = np.zeros((logs.n, space.size))
    for day in np.unique(logs.day):
        rows = np.flatnonzero(logs.day == day)
        who = logs.patient[rows]
        part = history.take(who)
        features = _features(model, logs.features[rows], part)
        masks = tuple(m[rows] for m in logs.masks)
        out[rows] = action_probabilities(model, part, features, masks)
        update_posteriors(
            pooled=model.pooled,
            history=history,
            features=features,
            rows=who,
            choices=logs.choices[rows],
            rewards=logs.rewards[rows],
            at=logs.times[int(day)],
            config=model.config,
        )
    return out, model


def _features(model: EngineModel, stored: FloatArray, history: HistorySummary) -> FloatArray:
    """The candidate's own feature rows: covariates, plus its context columns if it uses
    them (weekend flags as logged, or 0; messages so far from its own replay)."""
    base = model.featurizer.dim
    out = np.zeros((stored.shape[0], model.pooled.dim))
    out[:, :base] = stored[:, :base]
    if model.pooled.dim > base:
        logged = stored[:, base : base + 2]
        out[:, base : base + logged.shape[1]] = logged
        sent = history.sent[:, history.factor_slice(0)].sum(axis=1)
        out[:, base + CONTEXT_NAMES.index("ctx_messages_log")] = np.log1p(sent / 5.0)
    return out


def action_probabilities(
    model: EngineModel,
    history: HistorySummary,
    features: FloatArray,
    masks: tuple[BoolArray, ...],
) -> FloatArray:
    """n x actions: the exact probability the engine picks each action (no draw made)."""
    config = model.config
    dists = score_distributions(model.pooled, history, features)

    def probs(mean: FloatArray, sd: FloatArray, mask: BoolArray) -> FloatArray:
        p = pruned_win_probabilities(
            *config.draw_distribution(mean, sd), mask, nodes=config.quadrature_nodes
        )
        uniform = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        mixed = (1.0 - config.exploration_floor) * p + config.exploration_floor * uniform
        return np.asarray(mixed, dtype=np.float64)

    if model.joint:
        mean, var = cell_distributions(model.pooled, history, features)
        channel, window = channel_then_window(dists, mean, var, masks[0], masks[1])
        p_channel = probs(channel.mean, channel.sd, masks[0])
        pair = np.stack(
            [
                p_channel[:, c, None]
                * probs(*_scores(window.given(np.full(features.shape[0], c))), masks[1])
                for c in range(masks[0].shape[1])
            ],
            axis=1,
        )
    else:
        p_channel = probs(dists.means[0], dists.sds[0], masks[0])
        pair = p_channel[:, :, None] * probs(dists.means[1], dists.sds[1], masks[1])[:, None, :]
    full = pair
    for f in range(2, len(masks)):  # reading level, tone (and framing): independent draws
        p_f = probs(dists.means[f], dists.sds[f], masks[f])
        full = full[..., None] * p_f.reshape(p_f.shape[0], *([1] * (full.ndim - 1)), -1)
    return np.asarray(full.reshape(features.shape[0], -1), dtype=np.float64)


def _scores(scores: Any) -> tuple[FloatArray, FloatArray]:
    return scores.mean, scores.sd


def reward_model(logs: LoggedDecisions, space: ActionSpace, *, dim: int) -> FloatArray:
    """n x actions: P(reply) for every action, cross-fitted over two halves of the patients.

    A ridge logistic model on (covariates x factor value), fitted by Newton's method on one
    half and predicted on the other, so DR's correction term is not fitted on itself.
    """
    x = logs.features[:, :dim]
    values = _value_design(space)  # actions x V one-hot
    offsets = np.cumsum((0, *space.sizes[:-1]))
    logged = np.zeros((logs.n, values.shape[1]))
    logged[np.arange(logs.n)[:, None], logs.choices + offsets[None, :]] = 1.0
    fold = logs.patient % 2
    out = np.zeros((logs.n, space.size))
    for k in (0, 1):
        train, test = fold != k, fold == k
        if not test.any():
            continue
        weights = _fit(x[train], logged[train], logs.rewards[train])  # V x d
        out[test] = expit(x[test] @ weights.T @ values.T)
    return out


def _value_design(space: ActionSpace) -> FloatArray:
    grids = np.indices(space.sizes).reshape(len(space.sizes), -1).T  # actions x F
    offsets = np.cumsum((0, *space.sizes[:-1]))
    out = np.zeros((grids.shape[0], sum(space.sizes)))
    out[np.arange(grids.shape[0])[:, None], grids + offsets[None, :]] = 1.0
    return out


def _fit(x: FloatArray, onehot: FloatArray, y: FloatArray, ridge: float = 1.0) -> FloatArray:
    """Ridge logistic regression on the outer product features x one-hot (V x d weights)."""
    v, d = onehot.shape[1], x.shape[1]
    if y.size == 0:
        return np.zeros((v, d))
    design = (onehot[:, :, None] * x[:, None, :]).reshape(y.size, v * d)
    w = np.zeros(v * d)
    for _ in range(8):
        p = expit(design @ w)
        grad = design.T @ (y - p) - ridge * w
        hess = design.T @ (design * (p * (1 - p))[:, None]) + ridge * np.eye(v * d)
        step = np.linalg.solve(hess, grad)
        w += step
        if np.abs(step).max() < 1e-6:
            break
    return w.reshape(v, d)


def dr_terms(
    logs: LoggedDecisions, target: FloatArray, q: FloatArray, space: ActionSpace
) -> FloatArray:
    """Per decision: sum_a pi(a) q(a) + pi(a_i) / mu_i (r_i - q(a_i))."""
    flat = np.ravel_multi_index(tuple(logs.choices.T), space.sizes)
    rows = np.arange(logs.n)
    direct = (target * q).sum(axis=1)
    weight = target[rows, flat] / logs.propensity
    return np.asarray(direct + weight * (logs.rewards - q[rows, flat]), dtype=np.float64)


def compare(
    logs: LoggedDecisions,
    *,
    space: ActionSpace,
    running: EngineConfig,
    candidate: EngineConfig,
    patients: int,
    min_decisions: int = 200,
    resamples: int = 1000,
    seed: int = 0,
) -> tuple[Comparison, EngineModel]:
    """The evidence for serving ``candidate`` instead of ``running``, and the candidate's
    model trained on the logs (what would serve if promoted)."""
    if logs.n == 0:
        empty = {"value": 0.0, "low": 0.0, "high": 0.0}
        comparison = Comparison(
            0, 0, empty, empty, empty, {}, False, ("no resolved decisions to judge by",)
        )
        return comparison, EngineModel.new(space, candidate)
    if np.any(logs.propensity <= 0) or np.any(logs.propensity > 1):
        raise InvalidInput("logged propensities must be in (0, 1]", field="propensity")
    q = reward_model(logs, space, dim=EngineModel.new(space, running).featurizer.dim)
    run_p, _ = replay_probabilities(logs, space=space, config=running, patients=patients)
    cand_p, model = replay_probabilities(logs, space=space, config=candidate, patients=patients)
    run_t, cand_t = dr_terms(logs, run_p, q, space), dr_terms(logs, cand_p, q, space)
    z = Z_975
    diff = _interval(cand_t - run_t, z)
    boot = _bootstrap(cand_t - run_t, logs.patient, resamples, seed)
    reasons: list[str] = []
    if logs.n < min_decisions:
        reasons.append(f"only {logs.n} resolved decisions (at least {min_decisions} needed)")
    if diff["low"] <= 0:
        reasons.append("the 95 % interval of the DR difference does not exclude zero")
    if boot["share_better"] < 0.975:
        reasons.append(
            f"the candidate is better in {boot['share_better']:.1%} of patient resamples "
            "(at least 97.5 % needed)"
        )
    comparison = Comparison(
        decisions=logs.n,
        patients=int(np.unique(logs.patient).size),
        running={**_interval(run_t, z), "ess": _ess(run_p, logs, space)},
        candidate={**_interval(cand_t, z), "ess": _ess(cand_p, logs, space)},
        difference=diff,
        bootstrap=boot,
        promotable=not reasons,
        reasons=tuple(reasons),
    )
    return comparison, model


def _interval(terms: FloatArray, z: float) -> dict[str, float]:
    value = float(terms.mean())
    se = float(terms.std(ddof=1) / np.sqrt(terms.size)) if terms.size > 1 else float("inf")
    return {
        "value": round(value, 5),
        "low": round(value - z * se, 5),
        "high": round(value + z * se, 5),
    }


def _bootstrap(diff: FloatArray, patient: IntArray, resamples: int, seed: int) -> dict[str, float]:
    """Resample patients with replacement; the mean difference of each resample."""
    ids, inverse = np.unique(patient, return_inverse=True)
    sums = np.bincount(inverse, weights=diff)
    counts = np.bincount(inverse).astype(np.float64)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, ids.size, size=(resamples, ids.size))
    means = sums[picks].sum(axis=1) / counts[picks].sum(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return {
        "resamples": float(resamples),
        "share_better": round(float((means > 0).mean()), 4),
        "low": round(float(low), 5),
        "high": round(float(high), 5),
    }


def _ess(target: FloatArray, logs: LoggedDecisions, space: ActionSpace) -> float:
    flat = np.ravel_multi_index(tuple(logs.choices.T), space.sizes)
    w = target[np.arange(logs.n), flat] / logs.propensity
    return round(float(w.sum() ** 2 / (w**2).sum()), 1) if (w**2).sum() > 0 else 0.0
