"""Writing the engine's decisions down: a decision row (with the features it used, its
options, removals and sentence) and a ``decided`` event for each, one at a time or a tick's
batch at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

import numpy as np
from sqlalchemy import insert
from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.db import copy_then_insert
from careloop.events import COPY_FROM, EventKind, NewEvent, record_event, record_events
from careloop.models import DecisionRow
from careloop.personalize.contact_budget import Removal
from careloop.personalize.engine import Decision, OptionConsidered


def record_decision(
    session: Session,
    *,
    clock: Clock,
    decision: Decision,
    features: Sequence[float],
    actor: str = "engine",
    flush: bool = True,
) -> DecisionRow:
    """Write a decision down (with the features it used) and log a ``decided`` event.

    ``flush=False``: both stay pending until the session's next flush."""
    row = DecisionRow(**_decision_values(decision, features))
    session.add(row)
    if flush:
        session.flush()
    record_event(session, clock=clock, flush=flush, **asdict(_decided_event(decision, actor)))
    return row


def record_decisions(
    session: Session,
    *,
    clock: Clock,
    decisions: Sequence[tuple[Decision, Sequence[float]]],
    actor: str = "engine",
    copy_from: int = COPY_FROM,
) -> None:
    """:func:`record_decision` for a tick's batch: the rows in one statement (COPY on
    PostgreSQL), then their events (:func:`careloop.events.record_events`)."""
    if not decisions:
        return
    # Decisions of a batch share their options and removals (``personalize.materialize``):
    # each shared tuple is turned into dicts once.
    shared: dict[int, list[dict[str, Any]]] = {}
    rows = [_decision_values(decision, features, shared) for decision, features in decisions]
    session.flush()
    if session.get_bind().dialect.name == "postgresql" and len(rows) >= copy_from:
        copy_then_insert(
            session,
            table=DecisionRow.__tablename__,
            rows=rows,
            conflict="",
            json_columns=("factor_propensities", "options", "removals", "features"),
        )
    else:
        session.execute(insert(DecisionRow), rows)
    events = [_decided_event(decision, actor) for decision, _ in decisions]
    record_events(session, events=events, clock=clock, copy_from=copy_from)


def _as_dicts(
    items: tuple[OptionConsidered, ...] | tuple[Removal, ...],
    shared: dict[int, list[dict[str, Any]]],
) -> list[dict[str, Any]]:
    """``[x.as_dict() for x in items]``, once per tuple object (``shared``, by identity: the
    caller keeps every tuple alive while it uses ``shared``)."""
    found = shared.get(id(items))
    if found is None:
        found = shared[id(items)] = [x.as_dict() for x in items]
    return found


def _decision_values(
    decision: Decision,
    features: Sequence[float],
    shared: dict[int, list[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    shared = {} if shared is None else shared
    action = decision.action
    return {
        "id": decision.decision_id,
        "patient_id": decision.patient_id,
        "program": decision.program,
        "decided_at": ensure_utc(decision.decided_at),
        "send_at": ensure_utc(decision.send_at) if decision.send_at else None,
        "channel": action.channel if action else None,
        "send_window": action.send_window if action else None,
        "reading_level": action.reading_level if action else None,
        "tone": action.tone if action else None,
        "framing": action.framing if action else None,
        "language": decision.language,
        "propensity": decision.propensity,
        "factor_propensities": dict(decision.factor_propensities),
        "options": _as_dicts(decision.options, shared),
        "removals": _as_dicts(decision.removals, shared),
        # a row of the batch's matrix: its floats in one call, not one ``float`` each
        "features": features.tolist()
        if isinstance(features, np.ndarray)
        else list(map(float, features)),
        "explanation": decision.explanation,
        "explored": decision.explored,
        "model_version": decision.model_version,
    }


def _decided_event(decision: Decision, actor: str) -> NewEvent:
    action = decision.action
    return NewEvent(
        kind=EventKind.DECIDED,
        actor=actor,
        patient_id=decision.patient_id,
        occurred_at=decision.decided_at,
        subject_type="decision",
        subject_id=decision.decision_id,
        program=decision.program,
        payload={
            "action": action.as_dict() if action else None,
            "propensity": decision.propensity,
            "removals": [str(r.reason) for r in decision.removals],
        },
    )
