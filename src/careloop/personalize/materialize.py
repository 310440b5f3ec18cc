"""A batch's decisions in full, each part built once per group of equal inputs.

:meth:`~careloop.personalize.engine.BatchDecision.decision` materializes one patient's
decision from the batch's arrays: its options (a value per factor, feasible or not, with
its probability), the constraints' removals and the sentence. A night materializes every
decision of a slice, and patients often share those inputs (the same consent, contact
points and quiet hours give the same removals; the same features and no history the same
probabilities; the same counts, choice and pronoun the same sentence), so
:func:`all_decisions` reads the arrays once as Python lists and builds each part once per
distinct input, keyed by the exact bytes of the array rows it is built from. Every decision
equals ``batch.decision(i)`` (``tests/personalize/test_materialize_differential.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from typing import Any

import numpy as np
import numpy.typing as npt

from careloop.personalize.actions import Action
from careloop.personalize.contact_budget import Removal
from careloop.personalize.engine import BatchDecision, Decision, OptionConsidered


def _rows(*arrays: npt.NDArray[Any]) -> list[bytes]:
    """Each patient's row of ``arrays`` side by side, as bytes (equal bytes: equal inputs)."""
    n = arrays[0].shape[0]
    joined = np.hstack([np.ascontiguousarray(a).reshape(n, -1).view(np.uint8) for a in arrays])
    return [row.tobytes() for row in joined]


def _options(
    factors: tuple[tuple[str, tuple[str, ...]], ...],
    masks: list[list[list[bool]]],
    probs: list[list[list[float]]],
    i: int,
) -> tuple[OptionConsidered, ...]:
    return tuple(
        OptionConsidered(
            factor=factor,
            value=value,
            feasible=bool(masks[f][i][k]),
            probability=probs[f][i][k],
        )
        for f, (factor, values) in enumerate(factors)
        for k, value in enumerate(values)
    )


def all_decisions(batch: BatchDecision) -> list[Decision]:
    """``[batch.decision(i) for i in range(len(batch.population))]``, the shared parts built
    once per group of patients with equal inputs."""
    n = len(batch.population)
    if n == 0:
        return []
    space, feasibility, population = batch.program.action_space, batch.feasibility, batch.population
    factors, names = space.factors, space.factor_names
    masks = [m.tolist() for m in feasibility.masks]
    probs = [p.tolist() for p in batch.factor_probabilities]
    blocked = feasibility.blocked.tolist()
    choices = batch.choices.tolist()
    explored_any: list[bool] = np.any(batch.explored, axis=1).tolist()
    propensity = batch.propensity.tolist()
    option_keys = _rows(*feasibility.masks, *batch.factor_probabilities)
    removal_keys = _rows(
        feasibility.patient_block,
        feasibility.channel_block,
        feasibility.window_state,
        feasibility.window_bounds,
    )
    evidence_keys = _rows(batch.pair_sent, batch.pair_responded, batch.explored)
    framing_keys = _rows(*batch.framing_counts) if batch.framing_counts else [b""] * n
    options_of: dict[bytes, tuple[OptionConsidered, ...]] = {}
    removals_of: dict[bytes, tuple[Removal, ...]] = {}
    sentence_of: dict[Hashable, str] = {}
    actions: dict[tuple[int, ...], Action] = {}
    out: list[Decision] = []
    for i in range(n):
        options = options_of.get(option_keys[i])
        if options is None:
            options = options_of[option_keys[i]] = _options(factors, masks, probs, i)
        removals = removals_of.get(removal_keys[i])
        if removals is None:
            found = feasibility.removals(i, space=space, config=batch.config)
            removals = removals_of[removal_keys[i]] = tuple(found)
        pronoun = population.pronouns[i]
        action: Action | None = None
        factor_props: dict[str, float] = {}
        chosen: float | None = None
        key: Hashable = (removal_keys[i], pronoun)  # a hold's sentence reads the removals
        if not blocked[i]:
            picked = tuple(choices[i])
            action = actions.get(picked)
            if action is None:
                action = actions[picked] = space.action(picked)
            key = (
                picked,
                pronoun,
                evidence_keys[i],
                framing_keys[i],
                population.stated_channels[i],
                population.stated_framings[i] if population.stated_framings else None,
            )
            factor_props = {factor: probs[f][i][picked[f]] for f, factor in enumerate(names)}
            chosen = propensity[i]
        sentence = sentence_of.get(key)
        if sentence is None:  # every input of the sentence is in ``key``
            sentence = sentence_of[key] = batch.explanation(
                i, action=action, removals=list(removals)
            )
        out.append(
            Decision(
                decision_id=str(uuid.UUID(bytes=batch.id_bytes[16 * i : 16 * i + 16], version=4)),
                patient_id=population.patient_ids[i],
                program=batch.program.name,
                decided_at=batch.decided_at,
                action=action,
                send_at=batch.send_at[i],
                language=population.languages[i],
                propensity=chosen,
                factor_propensities=factor_props,
                options=options,
                removals=removals,
                explanation=sentence,
                explored=bool(explored_any[i]) if action else False,
                model_version=batch.model_version,
            )
        )
    return out
