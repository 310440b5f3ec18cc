"""The policies a pilot compares: static, segment, stated, random, bandit (the engine), oracle.

Each policy sees the same patients, the same hard constraints and the same random draws of
the world; only how it picks an action differs. ``static`` is the strongest one-size-fits-all
policy there can be: the single action with the best mean response over the whole population
at the first touch, measured on the population itself (a perfect prior pilot), falling back
down that ranking where a patient lacks the channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from careloop.personalize.actions import FACTORS, ActionSpace
from careloop.personalize.arrays import BoolArray, FloatArray, IntArray
from careloop.personalize.engine import EngineModel, PopulationBatch, decide_batch
from careloop.personalize.model import score_distributions, update_posteriors
from careloop.personalize.significance import personalization_test
from careloop.personalize.snapshot import ProgramSpec

POLICIES = ("static", "segment", "stated", "random", "bandit", "oracle")


@dataclass(frozen=True)
class Touch:
    """What a policy may see at one touch. ``truth`` (N x actions) is only for oracle/static."""

    index: int
    now: datetime
    truth: FloatArray
    feasible: BoolArray
    population: PopulationBatch


class Policy(Protocol):
    name: str

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray: ...

    def learn(self, touch: Touch, choices: IntArray, rewards: FloatArray) -> None: ...


def _first_feasible(ranking: IntArray, feasible: BoolArray) -> IntArray:
    """Per patient, the first action of ``ranking`` that is feasible for them."""
    ordered = feasible[:, ranking]
    return np.asarray(ranking[np.argmax(ordered, axis=1)], dtype=np.int64)


class _Stateless:
    name = "stateless"

    def learn(self, touch: Touch, choices: IntArray, rewards: FloatArray) -> None:
        return None


class OraclePolicy(_Stateless):
    name = "oracle"

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        scores = np.where(touch.feasible, touch.truth, -1.0)
        return np.asarray(np.argmax(scores, axis=1), dtype=np.int64)


class RandomPolicy(_Stateless):
    name = "random"

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        keys = np.where(touch.feasible, rng.random(touch.feasible.shape), -1.0)
        return np.asarray(np.argmax(keys, axis=1), dtype=np.int64)


class StaticPolicy(_Stateless):
    name = "static"

    def __init__(self) -> None:
        self.ranking: IntArray | None = None

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        if self.ranking is None:
            mean = np.where(touch.feasible, touch.truth, np.nan)
            self.ranking = np.argsort(-np.nan_to_num(np.nanmean(mean, axis=0), nan=-1.0))
        return _first_feasible(self.ranking, touch.feasible)


class SegmentPolicy(_Stateless):
    """Hand rules by age and language, as a coordinator might write them."""

    name = "segment"

    def __init__(self, space: ActionSpace, covariates: Sequence[dict[str, Any]]) -> None:
        preferred = []
        for cov in covariates:
            age = int(cov.get("age") or 50)
            english = str(cov.get("language") or "en").lower().startswith("en")
            if age >= 70:
                rule = ("voice", "11-14", "basic", "formal")
            elif age < 45:
                rule = ("sms", "17-20", "standard", "friendly")
            else:
                rule = ("email", "17-20", "standard", "formal")
            if not english:
                rule = ("sms" if age < 70 else "voice", rule[1], "basic", rule[3])
            preferred.append(rule)
        self._rankings = [_rule_ranking(space, rule) for rule in preferred]

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        out: IntArray = np.empty(touch.feasible.shape[0], dtype=np.int64)
        for i, ranking in enumerate(self._rankings):
            ok = touch.feasible[i, ranking]
            out[i] = ranking[int(np.argmax(ok))]
        return out


def _rule_ranking(space: ActionSpace, rule: tuple[str, str, str, str]) -> IntArray:
    """The rule's action first, then the same with other channels in a fixed fallback order."""
    fallback = [rule[0]] + [c for c in ("sms", "voice", "email", "portal") if c != rule[0]]
    ranking = []
    for channel in fallback:
        if channel not in space.channels:
            continue
        values = (channel, *rule[1:])
        indices = [
            vals.index(v) if v in vals else 0
            for (_, vals), v in zip(space.factors, values, strict=True)
        ]
        ranking.append(space.flat_index(indices))
    rest = [a for a in range(space.size) if a not in ranking]
    return np.asarray(ranking + rest, dtype=np.int64)


class StatedPolicy(_Stateless):
    """Stated channel and window where given; the static action's values elsewhere."""

    name = "stated"

    def __init__(self, space: ActionSpace, stated: Sequence[dict[str, Any]]) -> None:
        self.space = space
        self.stated = stated
        self.static = StaticPolicy()

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        base = self.static.choose(touch, rng)
        out = base.copy()
        sizes = self.space.sizes
        for i, prefs in enumerate(self.stated):
            indices = [int(x) for x in np.unravel_index(int(base[i]), sizes)]
            channel = prefs.get("preferred_channel")
            window = prefs.get("preferred_window")
            if channel in self.space.channels:
                indices[0] = self.space.channels.index(channel)
            if window in self.space.send_windows:
                indices[1] = self.space.send_windows.index(window)
            candidate = self.space.flat_index([int(x) for x in indices])
            if touch.feasible[i, candidate]:
                out[i] = candidate
        return out


class BanditPolicy:
    """The decision engine itself, learning from the rewards of each touch."""

    name = "bandit"

    def __init__(self, model: EngineModel, n: int) -> None:
        self.model = model
        self.history = model.empty_history(n)
        self._choices: IntArray | None = None
        self._features: FloatArray | None = None
        self._probabilities: tuple[FloatArray, ...] = ()
        self.freeze_at = -1
        self.assignment: list[IntArray] | None = None
        self.logs: list[tuple[IntArray, FloatArray, FloatArray]] = []

    def choose(self, touch: Touch, rng: np.random.Generator) -> IntArray:
        space = self.model.featurizer.space
        program = ProgramSpec(name="pilot", purpose="pilot", action_space=space)
        batch = decide_batch(
            population=touch.population,
            program=program,
            history=self.history,
            model=self.model,
            now=touch.now,
            rng=rng,
        )
        self._choices = batch.choices
        self._features = batch.features
        self._probabilities = batch.factor_probabilities
        if touch.index == self.freeze_at:
            self.assignment = self._greedy(touch, batch.feasibility.masks)
        flat = np.ravel_multi_index(tuple(batch.choices.T), space.sizes)
        return np.asarray(flat, dtype=np.int64)

    def _greedy(self, touch: Touch, masks: tuple[BoolArray, ...]) -> list[IntArray]:
        """Per factor, each patient's best value by posterior mean: the frozen policy that the
        personalization test checks on later touches."""
        dists = score_distributions(self.model.pooled, self.history, self._features_or(touch))
        return [
            np.asarray(np.argmax(np.where(mask, mean, -np.inf), axis=1), dtype=np.int64)
            for mean, mask in zip(dists.means, masks, strict=True)
        ]

    def _features_or(self, touch: Touch) -> FloatArray:
        return self._features if self._features is not None else touch.population.features

    def personalization(self, rng: np.random.Generator) -> dict[str, dict[str, object]]:
        """Permutation tests, per factor, on the touches after the policy was frozen."""
        if self.assignment is None or not self.logs:
            return {}
        choices = np.concatenate([c for c, _, _ in self.logs])
        propensity = np.concatenate([p for _, p, _ in self.logs])
        rewards = np.concatenate([r for _, _, r in self.logs])
        n = self.history.n
        patient = np.tile(np.arange(n), len(self.logs))
        out: dict[str, dict[str, object]] = {}
        for f, factor in enumerate(FACTORS):
            result = personalization_test(
                factor=factor,
                assignment=self.assignment[f],
                patient=patient,
                logged_value=choices[:, f],
                factor_propensity=propensity[:, f],
                rewards=rewards,
                rng=rng,
                permutations=200,
            )
            out[factor] = {
                "observed": round(result.observed, 5),
                "shuffled_mean": round(result.shuffled_mean, 5),
                "p_value": round(result.p_value, 5),
                "personalized": result.personalized,
            }
        return out

    def learn(self, touch: Touch, choices: IntArray, rewards: FloatArray) -> None:
        assert self._choices is not None
        if self.assignment is not None and touch.index > self.freeze_at:
            rows = np.arange(self._choices.shape[0])
            chosen = np.stack(
                [p[rows, self._choices[:, f]] for f, p in enumerate(self._probabilities)], axis=1
            )
            self.logs.append((self._choices, chosen, rewards))
        assert self._features is not None
        update_posteriors(
            pooled=self.model.pooled,
            history=self.history,
            features=self._features,
            rows=np.arange(len(touch.population)),
            choices=self._choices,
            rewards=rewards,
            at=touch.now,
            config=self.model.config,
        )
