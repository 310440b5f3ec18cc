"""The decision engine: a pure function of (patient snapshot, program, history, model, now).

``decide`` handles one patient; ``decide_batch`` a whole population with array operations
and no per-patient queries. Both return decisions that carry the options considered (with
their probabilities), the constraints that removed options, the chosen action, its
propensity and one readable sentence. Nothing here reads a clock, a database or the network.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from careloop.clock import ensure_utc
from careloop.errors import InvalidInput
from careloop.fielddicts import field_dict
from careloop.personalize.actions import Action, ActionSpace
from careloop.personalize.arrays import BoolArray, FloatArray, IntArray
from careloop.personalize.constraints import (
    ConstraintArrays,
    Feasibility,
    Removal,
    choose_send_time,
    constraint_arrays,
    evaluate_constraints,
)
from careloop.personalize.explain import Evidence, explain_choice, explain_hold
from careloop.personalize.features import Featurizer
from careloop.personalize.framing import explain_framing, seed_stated_prior
from careloop.personalize.joint import CONTEXT_NAMES, channel_then_window, context_columns
from careloop.personalize.model import (
    HistorySummary,
    PooledPosterior,
    cell_distributions,
    score_distributions,
)
from careloop.personalize.profile import QuietHours
from careloop.personalize.sampling import FactorChoice, thompson_choose
from careloop.personalize.snapshot import EngineConfig, PatientSnapshot, ProgramSpec

_CHUNK = 4096


@dataclass
class EngineModel:
    """The pooled posterior of one program with the featurizer and settings it was built with."""

    pooled: PooledPosterior
    featurizer: Featurizer
    config: EngineConfig

    @classmethod
    def new(cls, space: ActionSpace, config: EngineConfig | None = None) -> EngineModel:
        config = config or EngineConfig()
        featurizer = Featurizer(space)
        pooled = PooledPosterior.prior(
            space,
            dim=featurizer.dim + (len(CONTEXT_NAMES) if config.context_features else 0),
            precision=config.prior_precision,
            joint=config.joint_channel_window,
            patient_cells=config.learn_cell_covariance,
            offset_precision=config.offset_prior_precision,
            cell_precision=config.cell_prior_precision,
        )
        seed_stated_prior(
            pooled.mean,
            space=space,
            feature_names=featurizer.names,
            dim=pooled.dim,
        )
        return cls(pooled=pooled, featurizer=featurizer, config=config)

    @property
    def version(self) -> str:
        kind = "joint-ts" if self.joint else "factored-ts"
        return f"{kind}/{self.pooled.updates}"

    @property
    def joint(self) -> bool:
        """Whether channel and window are chosen together (cell interactions on top)."""
        return self.pooled.cells is not None

    def empty_history(self, n: int) -> HistorySummary:
        return self.stored_history([None] * n, self.featurizer.space)

    def stored_history(
        self, rows: list[dict[str, Any] | None], space: ActionSpace
    ) -> HistorySummary:
        """Patients' stored learning (``None``: none yet) under this model's priors."""
        return HistorySummary.from_rows(
            rows,
            space,
            prior_precision=(
                self.pooled.offset_precision
                if self.pooled.offset_precision is not None
                else self.config.offset_prior_precision
            ),
            pair_prior_precision=self.config.cell_prior_precision,
            pair_prior=self.pooled.cell_offset_precision,
        )

    def decision_features(
        self, population: PopulationBatch, history: HistorySummary, now: datetime
    ) -> FloatArray:
        """The feature rows a decision uses (and logs): covariates, plus context if on."""
        if self.pooled.dim == population.features.shape[1]:
            return population.features
        sent = history.sent[:, history.factor_slice(0)].sum(axis=1)
        context = context_columns(
            features=population.features,
            timezones=population.constraints.timezones,
            now=now,
            sent=sent,
        )
        return np.hstack([population.features, context])


@dataclass(frozen=True)
class PopulationBatch:
    """A population as arrays: features, constraint inputs, and what explanations need."""

    patient_ids: tuple[str, ...]
    features: FloatArray
    constraints: ConstraintArrays
    pronouns: tuple[str, ...]
    stated_channels: tuple[str | None, ...]
    languages: tuple[str, ...]
    stated_framings: tuple[str | None, ...] = ()

    @classmethod
    def from_snapshots(
        cls,
        snapshots: Sequence[PatientSnapshot],
        *,
        program: ProgramSpec,
        model: EngineModel,
        now: datetime,
    ) -> PopulationBatch:
        return cls(
            patient_ids=tuple(s.patient_id for s in snapshots),
            features=model.featurizer.matrix([(s.covariates, s.stated) for s in snapshots]),
            constraints=constraint_arrays(snapshots, program=program, config=model.config, now=now),
            pronouns=tuple(s.pronoun for s in snapshots),
            stated_channels=tuple(s.stated.channel for s in snapshots),
            languages=tuple(s.language for s in snapshots),
            stated_framings=tuple(s.stated.framing for s in snapshots),
        )

    def __len__(self) -> int:
        return len(self.patient_ids)


@dataclass(frozen=True, slots=True)
class OptionConsidered:
    """One factor value, whether the constraints left it, and its probability of being chosen."""

    factor: str
    value: str
    feasible: bool
    probability: float

    def as_dict(self) -> dict[str, Any]:
        return field_dict(self, probability=round(self.probability, 6))


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one patient, with everything needed to audit and learn."""

    decision_id: str
    patient_id: str
    program: str
    decided_at: datetime
    action: Action | None
    send_at: datetime | None
    language: str
    propensity: float | None
    factor_propensities: dict[str, float]
    options: tuple[OptionConsidered, ...]
    removals: tuple[Removal, ...]
    explanation: str
    explored: bool
    model_version: str

    def as_dict(self) -> dict[str, Any]:
        return field_dict(
            self,
            decided_at=self.decided_at.isoformat(),
            action=self.action.as_dict() if self.action else None,
            send_at=self.send_at.isoformat() if self.send_at else None,
            options=[o.as_dict() for o in self.options],
            removals=[r.as_dict() for r in self.removals],
        )


@dataclass(frozen=True)
class BatchDecision:
    """Decisions for a population, as arrays; :meth:`decision` materializes one in full."""

    program: ProgramSpec
    config: EngineConfig
    decided_at: datetime
    population: PopulationBatch
    features: FloatArray
    feasibility: Feasibility
    choices: IntArray
    factor_probabilities: tuple[FloatArray, ...]
    propensity: FloatArray
    explored: BoolArray
    send_at: tuple[datetime | None, ...]
    pair_sent: FloatArray
    pair_responded: FloatArray
    id_bytes: bytes
    model_version: str
    framing_counts: tuple[FloatArray, FloatArray] | None = None  # sent, answered (N x K)

    @property
    def blocked(self) -> BoolArray:
        return self.feasibility.blocked

    def action(self, i: int) -> Action | None:
        if self.feasibility.blocked[i]:
            return None
        return self.program.action_space.action(self.choices[i])

    def decision(self, i: int) -> Decision:
        space = self.program.action_space
        removals = self.feasibility.removals(i, space=space, config=self.config)
        options = tuple(
            OptionConsidered(
                factor=factor,
                value=value,
                feasible=bool(self.feasibility.masks[f][i, k]),
                probability=float(self.factor_probabilities[f][i, k]),
            )
            for f, (factor, values) in enumerate(space.factors)
            for k, value in enumerate(values)
        )
        action = self.action(i)
        explanation = self.explanation(i, action=action, removals=removals)
        if action is None:
            factor_props: dict[str, float] = {}
            propensity = None
        else:
            factor_props = {
                factor: float(self.factor_probabilities[f][i, self.choices[i, f]])
                for f, factor in enumerate(space.factor_names)
            }
            propensity = float(self.propensity[i])
        return Decision(
            decision_id=str(uuid.UUID(bytes=self.id_bytes[16 * i : 16 * i + 16], version=4)),
            patient_id=self.population.patient_ids[i],
            program=self.program.name,
            decided_at=self.decided_at,
            action=action,
            send_at=self.send_at[i],
            language=self.population.languages[i],
            propensity=propensity,
            factor_propensities=factor_props,
            options=options,
            removals=tuple(removals),
            explanation=explanation,
            explored=bool(self.explored[i].any()) if action else False,
            model_version=self.model_version,
        )

    def explanation(self, i: int, *, action: Action | None, removals: list[Removal]) -> str:
        """Patient ``i``'s sentence: why nothing is sent (from the removals), or why this
        action (from the patient's own counts, exploration and stated channel and framing)."""
        pronoun = self.population.pronouns[i]
        if action is None:
            budget = (
                f"{self.config.weekly_budget} contacts in {self.config.budget_period.days} days"
            )
            return explain_hold(pronoun=pronoun, removals=removals, budget=budget)
        evidence = Evidence(
            pair_sent=self.pair_sent[i],
            pair_responded=self.pair_responded[i],
            channels=self.program.action_space.channels,
            windows=self.program.action_space.send_windows,
        )
        explanation = explain_choice(
            action=action,
            pronoun=pronoun,
            evidence=evidence,
            explored=bool(self.explored[i].any()),
            stated_channel=self.population.stated_channels[i],
        )
        return self._with_framing(i, action, explanation)

    def _with_framing(self, i: int, action: Action, sentence: str) -> str:
        """The decision's sentence with its framing clause, when the program chooses one."""
        if action.framing is None or self.framing_counts is None:
            return sentence
        sent, answered = self.framing_counts
        stated = self.population.stated_framings
        clause = explain_framing(
            framing=action.framing,
            pronoun=self.population.pronouns[i],
            stated=stated[i] if stated else None,
            sent=sent[i],
            responded=answered[i],
            framings=self.program.action_space.framings,
            explored=bool(self.explored[i, 4]),
        )
        return f"{sentence.rstrip('.')}; {clause}."

    def decisions(self) -> list[Decision]:
        return [self.decision(i) for i in range(len(self.population))]


def decide_batch(
    *,
    population: PopulationBatch,
    program: ProgramSpec,
    history: HistorySummary,
    model: EngineModel,
    now: datetime,
    rng: np.random.Generator,
) -> BatchDecision:
    """Decide for every patient of ``population``; ``history`` row ``i`` is patient ``i``."""
    now = ensure_utc(now)
    space = program.action_space
    if model.featurizer.space != space:
        raise InvalidInput("the model was built for another action space", field="program")
    if history.n != len(population) or population.features.shape[0] != len(population):
        raise InvalidInput("history and population sizes differ", field="history")
    config = model.config
    feasibility = evaluate_constraints(population.constraints, space=space, config=config)
    n = len(population)
    features = model.decision_features(population, history, now)
    choices = np.zeros((n, len(space.sizes)), dtype=np.int64)
    probs = [np.zeros((n, k)) for k in space.sizes]
    explored = np.zeros((n, len(space.sizes)), dtype=bool)
    propensity = np.ones(n)
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        part = history.take(slice(start, stop)) if (start, stop) != (0, n) else history
        chunk = _Chunk(slice(start, stop), choices, probs, explored, propensity)
        _choose_chunk(chunk, model, part, features[start:stop], feasibility, rng)
    propensity[feasibility.blocked] = 0.0
    return BatchDecision(
        program=program,
        config=config,
        decided_at=now,
        population=population,
        features=features,
        feasibility=feasibility,
        choices=choices,
        factor_probabilities=tuple(probs),
        propensity=propensity,
        explored=explored,
        send_at=_send_times(population, feasibility, choices, now),
        pair_sent=history.pair_sent,
        pair_responded=history.pair_responded,
        id_bytes=rng.bytes(16 * n),
        model_version=model.version,
        framing_counts=(
            (
                history.sent[:, history.factor_slice(4)],
                history.responded[:, history.factor_slice(4)],
            )
            if space.framings
            else None
        ),
    )


@dataclass(frozen=True)
class _Chunk:
    """Where one chunk of patients writes its choices, probabilities and propensities."""

    rows: slice
    choices: IntArray
    probs: list[FloatArray]
    explored: BoolArray
    propensity: FloatArray

    def store(self, f: int, picked: FactorChoice) -> None:
        self.choices[self.rows, f] = picked.choice
        self.probs[f][self.rows] = picked.probabilities
        self.explored[self.rows, f] = picked.explored
        taken = picked.probabilities[np.arange(picked.choice.shape[0]), picked.choice]
        self.propensity[self.rows] *= taken


def _choose_chunk(
    chunk: _Chunk,
    model: EngineModel,
    history: HistorySummary,
    features: FloatArray,
    feasibility: Feasibility,
    rng: np.random.Generator,
) -> None:
    """Thompson choices for one chunk, factor by factor; with cell interactions on, the
    window is drawn given the chosen channel (``joint.channel_then_window``).

    The logged propensity is the product of what each draw gave the chosen value: exact,
    because each draw is independent given what was drawn before it.
    """
    config = model.config
    dists = score_distributions(model.pooled, history, features)
    masks = [m[chunk.rows] for m in feasibility.masks]

    def draw(mean: FloatArray, sd: FloatArray, mask: BoolArray) -> FactorChoice:
        centre, spread = config.draw_distribution(mean, sd)
        return thompson_choose(
            centre,
            spread,
            mask,
            rng=rng,
            exploration_floor=config.exploration_floor,
            nodes=config.quadrature_nodes,
        )

    first = 0
    if model.joint:
        mean, var = cell_distributions(model.pooled, history, features)
        channel, window = channel_then_window(dists, mean, var, masks[0], masks[1])
        channel_pick = draw(channel.mean, channel.sd, masks[0])
        chunk.store(0, channel_pick)
        given = window.given(channel_pick.choice)
        chunk.store(1, draw(given.mean, given.sd, masks[1]))
        first = 2
    for f in range(first, len(masks)):
        chunk.store(f, draw(dists.means[f], dists.sds[f], masks[f]))


def _send_times(
    population: PopulationBatch, feasibility: Feasibility, choices: IntArray, now: datetime
) -> tuple[datetime | None, ...]:
    """Concrete send times, computed once per (zone, window, quiet hours) combination."""
    cache: dict[tuple[str, int, int, int, int], datetime] = {}
    out: list[datetime | None] = []
    quiet = population.constraints.quiet
    bounds = feasibility.window_bounds
    for i, zone in enumerate(population.constraints.timezones):
        if feasibility.blocked[i]:
            out.append(None)
            continue
        start, end = (int(x) for x in bounds[i, choices[i, 1]])
        key = (zone, start, end, int(quiet[i, 0]), int(quiet[i, 1]))
        moment = cache.get(key)
        if moment is None:
            moment = choose_send_time(
                start_minute=start,
                end_minute=end,
                timezone=zone,
                quiet=QuietHours(key[3], key[4]),
                now=now,
            )
            cache[key] = moment
        out.append(moment)
    return tuple(out)


def decide(
    *,
    snapshot: PatientSnapshot,
    program: ProgramSpec,
    history: HistorySummary | None,
    model: EngineModel,
    now: datetime,
    rng: np.random.Generator,
) -> Decision:
    """Decide for one patient (a batch of one, so both paths apply the same rules)."""
    population = PopulationBatch.from_snapshots([snapshot], program=program, model=model, now=now)
    if history is None:
        history = model.empty_history(1)
    batch = decide_batch(
        population=population, program=program, history=history, model=model, now=now, rng=rng
    )
    return batch.decision(0)
