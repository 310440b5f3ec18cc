"""Which engine configuration serves a program, and the evidence it was promoted on.

A candidate configuration (``EngineConfig`` settings, e.g. ``joint_channel_window=false``)
is compared with the running one on the program's resolved decisions
(:mod:`careloop.personalize.promotion`); the latest comparison is kept with the program's
model state so the console can show it. Promotion runs the comparison again and is refused
(:class:`PromotionRefused`, naming the missing evidence) unless it is promotable; when
granted, the candidate's settings and the model it learned on the same logs start serving.
Serving settings (``weekly_budget``, ``budget_period``) stay the caller's: the contact
budget is a hard constraint, not something a promotion changes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.errors import Conflict, NotFound
from careloop.models import DecisionRow, ModelStateRow
from careloop.personalize.actions import Action, ActionSpace
from careloop.personalize.features import Featurizer
from careloop.personalize.joint import CONTEXT_NAMES
from careloop.personalize.promotion import (
    SERVING_FIELDS,
    LoggedDecisions,
    compare,
    config_from_dict,
    config_to_dict,
)
from careloop.personalize.snapshot import EngineConfig

STATE_KEYS = ("engine_config", "comparison")


class PromotionRefused(Conflict):
    """The candidate has not shown it is better; the message names what is missing."""


def running_config(
    session: Session, program: str, base: EngineConfig | None = None
) -> EngineConfig:
    """The promoted learning settings over ``base`` (the caller's serving settings kept)."""
    row = session.get(ModelStateRow, program)
    stored = (row.state or {}).get("engine_config") if row is not None else None
    base = base or EngineConfig()
    if not stored:
        return base
    learning = {k: v for k, v in stored.items() if k not in SERVING_FIELDS}
    return config_from_dict(learning, base)


def logged_decisions(session: Session, program: str) -> tuple[LoggedDecisions, ActionSpace, int]:
    """The program's resolved decisions as arrays, with the action space they were made in."""
    rows = session.scalars(
        select(DecisionRow)
        .where(
            DecisionRow.program == program,
            DecisionRow.reward.is_not(None),
            DecisionRow.propensity.is_not(None),
            DecisionRow.channel.is_not(None),
        )
        .order_by(DecisionRow.decided_at, DecisionRow.id)
    ).all()
    if not rows:
        raise NotFound(f"program {program!r} has no resolved decisions yet")
    space = _space_of(rows[0])
    patients = {pid: i for i, pid in enumerate(sorted({r.patient_id for r in rows}))}
    first = ensure_utc(rows[0].decided_at)
    days = np.array([(ensure_utc(r.decided_at) - first).days for r in rows], dtype=np.int64)
    _, day = np.unique(days, return_inverse=True)
    times: dict[int, datetime] = {}
    for r, d in zip(rows, day, strict=True):
        times[int(d)] = ensure_utc(r.decided_at)
    # at least covariates + context columns (rows may have been logged with fewer)
    width = max(
        [Featurizer(space).dim + len(CONTEXT_NAMES)] + [len(r.features or []) for r in rows]
    )
    features = np.zeros((len(rows), width))
    for i, r in enumerate(rows):
        features[i, : len(r.features or [])] = r.features or []
    masks = tuple(
        np.array([_feasible(r, factor, values) for r in rows], dtype=bool)
        for factor, values in space.factors
    )
    choices = np.array([space.indices(logged_action(r)) for r in rows], dtype=np.int64).reshape(
        len(rows), len(space.sizes)
    )
    logs = LoggedDecisions(
        patient=np.array([patients[r.patient_id] for r in rows], dtype=np.int64),
        features=features,
        masks=masks,
        choices=choices,
        propensity=np.array([float(r.propensity or 0.0) for r in rows]),
        rewards=np.array([float(r.reward or 0.0) for r in rows]),
        day=day.astype(np.int64),
        times=tuple(times[d] for d in range(len(times))),
    )
    return logs, space, len(patients)


def _space_of(row: DecisionRow) -> ActionSpace:
    values: dict[str, list[str]] = {}
    for option in row.options or []:
        values.setdefault(str(option["factor"]), []).append(str(option["value"]))
    return ActionSpace(
        channels=tuple(values.get("channel", ())),
        send_windows=tuple(values.get("send_window", ())),
        reading_levels=tuple(values.get("reading_level", ())),
        tones=tuple(values.get("tone", ())),
        framings=tuple(values.get("framing", ())),
    )


def _feasible(row: DecisionRow, factor: str, values: tuple[str, ...]) -> list[bool]:
    feasible = {
        str(o["value"]) for o in row.options or [] if o["factor"] == factor and o.get("feasible")
    }
    return [v in feasible for v in values]


def logged_action(row: DecisionRow) -> Action:
    """The action a logged decision chose (empty strings where an old row left a factor out)."""
    return Action(
        channel=row.channel or "",
        send_window=row.send_window or "",
        reading_level=row.reading_level or "",
        tone=row.tone or "",
        framing=row.framing,
    )


def compare_candidate(
    session: Session,
    *,
    clock: Clock,
    program: str,
    settings: dict[str, Any],
    min_decisions: int = 200,
    promote: bool = False,
    actor: str = "cli",
) -> dict[str, Any]:
    """Compare ``settings`` with the running configuration; keep (and return) the result.

    With ``promote``, a promotable candidate starts serving (``promoted`` in the result);
    a refused one is stored all the same, and the edge raises :class:`PromotionRefused`.
    """
    running = running_config(session, program)
    candidate = config_from_dict(settings, running)
    logs, space, patients = logged_decisions(session, program)
    comparison, model = compare(
        logs,
        space=space,
        running=running,
        candidate=candidate,
        patients=patients,
        min_decisions=min_decisions,
    )
    result = {
        "program": program,
        "compared_at": clock.now().isoformat(),
        "candidate_settings": dict(settings),
        **comparison.as_dict(),
        "promoted": False,
    }
    row = session.get(ModelStateRow, program)
    if row is None:
        row = ModelStateRow(program=program, state={}, version="", updated_at=clock.now())
        session.add(row)
    state = dict(row.state or {})
    if promote and comparison.promotable:
        result["promoted"] = True
        result["promoted_by"] = actor
        state = {**model.pooled.to_json(), "engine_config": config_to_dict(candidate)}
        row.version = model.version
        row.updated_at = clock.now()
    state["comparison"] = result
    row.state = state
    session.flush()
    return result


def stored_comparisons(session: Session) -> dict[str, dict[str, Any]]:
    """The latest comparison per program (aggregates only: no patient appears in it). Only
    that key is read: a program's whole state (its posterior) is megabytes, and reading every
    program's took 265 ms of the programs page's 506 at 10,000 patients."""
    out: dict[str, dict[str, Any]] = {}
    rows = session.execute(select(ModelStateRow.program, ModelStateRow.state["comparison"]))
    for program, comparison in rows:
        if comparison:
            out[program] = comparison
    return out


def keep_state_keys(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """``new`` model state with the promotion keys of ``old`` carried over."""
    kept = {k: v for k, v in (old or {}).items() if k in STATE_KEYS}
    return {**new, **kept}
