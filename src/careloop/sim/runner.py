"""Run a pilot: every policy on the same population, touches, constraints and random draws.

A touch is one outreach opportunity every three days (within a 3-per-week budget). Each
policy picks an action per patient; the world answers with the population's true response
probability. Engagement is reported as the mean true probability of the chosen actions
(the expected reply rate, free of coin-flip noise); learning policies learn from the
realized replies, drawn with the same random numbers for every policy.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from careloop.errors import InvalidInput
from careloop.personalize.actions import Action, ActionSpace, SendWindow
from careloop.personalize.arrays import FloatArray
from careloop.personalize.constraints import choose_send_time, evaluate_constraints
from careloop.personalize.engine import EngineModel, PopulationBatch
from careloop.personalize.profile import QuietHours, StatedPreferences
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec
from careloop.sim.policies import (
    POLICIES,
    BanditPolicy,
    OraclePolicy,
    Policy,
    RandomPolicy,
    SegmentPolicy,
    StatedPolicy,
    StaticPolicy,
    Touch,
)
from careloop.sim.population import EPOCH

DEFAULT_POPULATION = "careloop.sim.population:make"
TOUCH_EVERY = timedelta(days=3)
DEFAULT_ZONE = "America/New_York"


class SimPatientLike(Protocol):
    id: str
    covariates: dict[str, Any]
    stated: dict[str, Any]


class PopulationLike(Protocol):
    @property
    def patients(self) -> Sequence[SimPatientLike]: ...

    def response_probability(
        self, patient_id: str, action: Action, *, touch: int, sent_at: datetime
    ) -> float: ...


def load_population(spec: str, *, n: int, seed: int) -> PopulationLike:
    """``MODULE:FACTORY`` → ``FACTORY(n, seed)``; errors name the option, never a traceback."""
    module_name, _, factory_name = spec.partition(":")
    if not module_name or not factory_name:
        raise InvalidInput("population must look like MODULE:FACTORY", field="--population")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}", field="--population") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise InvalidInput(f"{spec!r} is not a callable factory", field="--population")
    population = factory(n, seed)
    if not hasattr(population, "patients") or not hasattr(population, "response_probability"):
        raise InvalidInput(
            "the factory must return an object with patients and response_probability",
            field="--population",
        )
    if len(population.patients) != n:
        raise InvalidInput(
            f"the factory returned {len(population.patients)} patients, not {n}",
            field="--population",
        )
    return population  # type: ignore[no-any-return]


@dataclass
class PolicyResult:
    per_touch: list[float]
    realized: list[float]
    seconds: float

    def as_dict(self, oracle: list[float], decisions: int) -> dict[str, Any]:
        return {
            "per_touch": [round(x, 5) for x in self.per_touch],
            "cumulative": round(float(np.mean(self.per_touch)), 5),
            "oracle_ratio": [
                round(x / o, 5) if o > 0 else None
                for x, o in zip(self.per_touch, oracle, strict=True)
            ],
            "decisions_per_s": round(decisions / self.seconds, 1) if self.seconds > 0 else None,
            "realized_cumulative": round(float(np.mean(self.realized)), 5),
        }


def snapshot_for(patient: SimPatientLike, *, recent: tuple[datetime, ...]) -> PatientSnapshot:
    """A simulated patient as the engine sees a real one: consent for every channel it can
    reach, contact points from has_mobile/email/portal (voice: a phone line is assumed)."""
    cov = patient.covariates
    channels = {"voice"}
    if cov.get("has_mobile"):
        channels.add("sms")
    if cov.get("has_email"):
        channels.add("email")
    if cov.get("has_portal"):
        channels.add("portal")
    stated = patient.stated
    sex = str(cov.get("sex", "")).lower()
    return PatientSnapshot(
        patient_id=patient.id,
        timezone=str(cov.get("timezone") or DEFAULT_ZONE),
        language=str(cov.get("language") or "en"),
        consented_channels={"pilot": frozenset(channels)},
        contact_channels=frozenset(channels),
        covariates=cov,
        stated=StatedPreferences(
            channel=stated.get("preferred_channel"), send_window=stated.get("preferred_window")
        ),
        recent_contacts=recent,
        pronoun="she" if sex in {"female", "f"} else "he" if sex in {"male", "m"} else "they",
    )


def _policy(
    name: str, *, space: ActionSpace, patients: Sequence[SimPatientLike], config: EngineConfig
) -> Policy:
    if name == "static":
        return StaticPolicy()
    if name == "segment":
        return SegmentPolicy(space, [p.covariates for p in patients])
    if name == "stated":
        return StatedPolicy(space, [p.stated for p in patients])
    if name == "random":
        return RandomPolicy()
    if name == "bandit":
        return BanditPolicy(EngineModel.new(space, config), len(patients))
    if name == "oracle":
        return OraclePolicy()
    raise InvalidInput(
        f"unknown policy {name!r}; choose from {', '.join(POLICIES)}", field="--policy"
    )


def simulate(
    *,
    population: PopulationLike,
    policies: Sequence[str],
    touches: int,
    seed: int,
    space: ActionSpace | None = None,
    config: EngineConfig | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every policy (and the oracle, for ratios) for ``touches`` touches."""
    if touches < 1:
        raise InvalidInput("touches must be at least 1", field="--touches")
    if not policies:
        raise InvalidInput("give at least one --policy", field="--policy")
    space = space or ActionSpace()
    config = config or EngineConfig()
    patients = list(population.patients)
    n = len(patients)
    if n < 1:
        raise InvalidInput("patients must be at least 1", field="--patients")
    names = list(dict.fromkeys([*policies, "oracle"]))
    runners = {name: _policy(name, space=space, patients=patients, config=config) for name in names}
    bandit = runners.get("bandit")
    if isinstance(bandit, BanditPolicy) and touches >= 4:
        bandit.freeze_at = touches // 2
    world = np.random.default_rng([seed, 1])
    policy_rngs = {name: np.random.default_rng([seed, 2, i]) for i, name in enumerate(names)}
    results = {name: PolicyResult([], [], 0.0) for name in names}
    model = EngineModel.new(space, config)
    program = ProgramSpec(name="pilot", purpose="pilot", action_space=space)

    for t in range(touches):
        now = EPOCH + t * TOUCH_EVERY + timedelta(hours=11)
        recent = tuple(
            EPOCH + k * TOUCH_EVERY + timedelta(hours=17)
            for k in range(t)
            if (t - k) * TOUCH_EVERY < timedelta(days=7)
        )
        snapshots = [snapshot_for(p, recent=recent) for p in patients]
        batch = PopulationBatch.from_snapshots(snapshots, program=program, model=model, now=now)
        feasible = _feasible_actions(batch, space, config)
        truth = truth_table(population, patients, space, t, now)
        touch = Touch(index=t, now=now, truth=truth, feasible=feasible, population=batch)
        uniforms = world.random(n)
        rows = np.arange(n)
        for name in names:
            policy = runners[name]
            started = time.perf_counter()
            choices = policy.choose(touch, policy_rngs[name])
            results[name].seconds += time.perf_counter() - started
            p = truth[rows, choices]
            rewards = (uniforms < p).astype(np.float64)
            results[name].per_touch.append(float(p.mean()))
            results[name].realized.append(float(rewards.mean()))
            policy.learn(touch, choices, rewards)
        if progress is not None:
            progress(t + 1)

    oracle = results["oracle"].per_touch
    report: dict[str, Any] = {
        "patients": n,
        "touches": touches,
        "seed": seed,
        "policies": {
            name: results[name].as_dict(oracle, n * touches) for name in dict.fromkeys(policies)
        },
    }
    if isinstance(bandit, BanditPolicy) and "bandit" in report["policies"]:
        report["policies"]["bandit"]["personalization"] = bandit.personalization(
            np.random.default_rng([seed, 3])
        )
    return report


def _feasible_actions(
    batch: PopulationBatch, space: ActionSpace, config: EngineConfig
) -> npt.NDArray[np.bool_]:
    """N x actions: the product of the per-factor masks the engine's constraints leave."""

    masks = evaluate_constraints(batch.constraints, space=space, config=config).masks
    joint = (
        masks[0][:, :, None, None, None]
        & masks[1][:, None, :, None, None]
        & masks[2][:, None, None, :, None]
        & masks[3][:, None, None, None, :]
    )
    return joint.reshape(joint.shape[0], -1)


def truth_table(
    population: PopulationLike,
    patients: Sequence[SimPatientLike],
    space: ActionSpace,
    touch: int,
    now: datetime,
) -> FloatArray:
    """N x actions: the true response probabilities at this touch (fast table if offered)."""
    fast_table = getattr(population, "probability_table", None)
    if callable(fast_table):
        truth = np.asarray(fast_table(touch=touch, sent_at=now + timedelta(hours=6)))
        return truth.reshape(len(patients), -1)
    return _scalar_table(population, patients, space.all_actions(), touch, now)


def _scalar_table(
    population: PopulationLike,
    patients: Sequence[SimPatientLike],
    actions: Sequence[Action],
    touch: int,
    now: datetime,
) -> FloatArray:
    """Ask the plug-in for every patient and action, with the send time each window implies."""
    sent_at: dict[tuple[str, str], datetime] = {}
    table = np.empty((len(patients), len(actions)))
    quiet = QuietHours()
    for i, patient in enumerate(patients):
        zone = str(patient.covariates.get("timezone") or DEFAULT_ZONE)
        for a, action in enumerate(actions):
            key = (zone, action.send_window)
            moment = sent_at.get(key)
            if moment is None:
                window = SendWindow.parse(action.send_window)
                moment = choose_send_time(
                    start_minute=window.start_minute,
                    end_minute=window.end_minute,
                    timezone=zone,
                    quiet=quiet,
                    now=now,
                )
                sent_at[key] = moment
            table[i, a] = population.response_probability(
                patient.id, action, touch=touch, sent_at=moment
            )
    return table
