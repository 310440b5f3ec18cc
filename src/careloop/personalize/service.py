"""Service functions over the personalization tables: profiles, decisions, learned state.

Services only flush; the edge (CLI command, request, worker) owns the transaction. This is
the one module of ``personalize`` that touches the database, and it reaches only the floor
(``careloop.models``, ``careloop.events``), so the engine stays a leaf.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.db import any_of
from careloop.errors import InvalidInput
from careloop.events import (
    EventKind,
    list_events,
    record_event,
)
from careloop.models import DecisionRow, ModelStateRow, PreferenceProfileRow
from careloop.personalize.actions import ActionSpace
from careloop.personalize.arrays import FloatArray
from careloop.personalize.engine import EngineModel
from careloop.personalize.history import own_offsets
from careloop.personalize.model import HistorySummary, PooledPosterior, update_posteriors
from careloop.personalize.profile import FactorEvidence, PreferenceProfile, StatedPreferences
from careloop.personalize.rewards import (
    DEFAULT_HORIZON,
    RESPONSE_KINDS,
    RewardStatus,
    SentDecision,
    resolve_rewards,
)
from careloop.personalize.serving import keep_state_keys, logged_action, running_config
from careloop.personalize.snapshot import EngineConfig, ProgramSpec


def _check_patient_id(patient_id: str) -> str:
    patient_id = patient_id.strip()
    if not patient_id or len(patient_id) > 64:
        raise InvalidInput("patient id must be 1 to 64 characters", field="patient_id")
    return patient_id


def get_profile(session: Session, *, patient_id: str) -> PreferenceProfile:
    """The profile of a patient; an empty one when nothing was stated or learned yet."""
    patient_id = _check_patient_id(patient_id)
    row = session.get(PreferenceProfileRow, patient_id)
    if row is None:
        return PreferenceProfile(patient_id=patient_id)
    return PreferenceProfile(
        patient_id=patient_id,
        stated=StatedPreferences.from_dict(row.stated),
        learned=_learned_summary(row.learned),
    )


def profile_rows(
    session: Session, *, patient_ids: Sequence[str]
) -> dict[str, PreferenceProfileRow]:
    """The stored profile rows of ``patient_ids`` (none for a patient with nothing stored), in
    one query per thousand: a page passes them on, so it reads each patient's profile once."""
    rows: dict[str, PreferenceProfileRow] = {}
    ids = list(dict.fromkeys(_check_patient_id(pid) for pid in patient_ids))
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        query = select(PreferenceProfileRow).where(
            any_of(session, PreferenceProfileRow.patient_id, chunk)
        )
        rows.update((row.patient_id, row) for row in session.scalars(query))
    return rows


def get_profiles(
    session: Session,
    *,
    patient_ids: Sequence[str],
    rows: Mapping[str, PreferenceProfileRow] | None = None,
) -> dict[str, PreferenceProfile]:
    """:func:`get_profile` for many patients in one query per thousand (a tick's batch);
    ``rows``: their :func:`profile_rows` when the caller read them already."""
    ids = list(dict.fromkeys(_check_patient_id(pid) for pid in patient_ids))
    if rows is None:
        rows = profile_rows(session, patient_ids=ids)
    return {
        pid: PreferenceProfile(
            patient_id=pid,
            stated=StatedPreferences.from_dict(rows[pid].stated),
            learned=_learned_summary(rows[pid].learned),
        )
        if pid in rows
        else PreferenceProfile(patient_id=pid)
        for pid in ids
    }


def set_stated_preferences(
    session: Session,
    *,
    clock: Clock,
    patient_id: str,
    changes: Mapping[str, Any],
    actor: str,
) -> PreferenceProfile:
    """Apply ``changes`` (None clears a preference) and log a ``preference_changed`` event."""
    patient_id = _check_patient_id(patient_id)
    if not changes:
        raise InvalidInput("give at least one preference to change", field="preferences")
    row = session.get(PreferenceProfileRow, patient_id)
    current = StatedPreferences.from_dict(row.stated) if row else StatedPreferences()
    updated = current.updated(changes)
    now = clock.now()
    if row is None:
        row = PreferenceProfileRow(
            patient_id=patient_id, stated={}, learned={}, updated_at=now, updated_by=actor
        )
        session.add(row)
    row.stated = updated.as_dict()
    row.updated_at = now
    row.updated_by = actor
    session.flush()
    record_event(
        session,
        kind=EventKind.PREFERENCE_CHANGED,
        clock=clock,
        actor=actor,
        patient_id=patient_id,
        subject_type="preference_profile",
        subject_id=patient_id,
        payload={"changed": sorted(changes)},
    )
    return get_profile(session, patient_id=patient_id)


def list_decisions(
    session: Session, *, patient_id: str, program: str | None = None, limit: int = 50
) -> Sequence[DecisionRow]:
    """A patient's latest decisions, newest first."""
    query = select(DecisionRow).where(DecisionRow.patient_id == _check_patient_id(patient_id))
    if program is not None:
        query = query.where(DecisionRow.program == program)
    return session.scalars(query.order_by(DecisionRow.decided_at.desc()).limit(limit)).all()


def load_model(
    session: Session, *, program: ProgramSpec, config: EngineConfig | None = None
) -> EngineModel:
    """The program's engine model; a fresh prior when it has never learned. Settings
    promoted on evidence (``personalize.serving``) override the learning part of ``config``."""
    row = _model_row(session, program.name)
    config = running_config(session, program.name, config)
    model = EngineModel.new(program.action_space, config)
    if row is not None and "sizes" in (row.state or {}):
        pooled = PooledPosterior.from_json(row.state)
        same_shape = pooled.sizes == model.pooled.sizes and pooled.dim == model.pooled.dim
        if same_shape and (pooled.cells is None) == (model.pooled.cells is None):
            model.pooled = pooled
    return model


_SERVED: dict[tuple[str, str], tuple[tuple[object, ...], EngineModel]] = {}
"""Per process: (program, action space) → (the row's version and update time, its model)."""


def cached_model(session: Session, *, program: ProgramSpec) -> EngineModel:
    """:func:`load_model` for read-only use (the page previews of the next decision), decoded
    once per process and stored row version: decoding the state (a 403 x 403 precision) was
    a tenth of a patient page. Every save and every promotion moves ``updated_at``, so the
    one-column read below sees any change; callers must not learn into the model."""
    stamp = tuple(
        session.execute(
            select(ModelStateRow.version, ModelStateRow.updated_at).where(
                ModelStateRow.program == program.name
            )
        ).one_or_none()
        or ()
    )
    key = (program.name, repr(program.action_space))
    held = _SERVED.get(key)
    if held is not None and held[0] == stamp:
        return held[1]
    model = load_model(session, program=program)
    _SERVED[key] = (stamp, model)
    return model


def save_model(session: Session, *, clock: Clock, program: ProgramSpec, model: EngineModel) -> None:
    row = _model_row(session, program.name)
    if row is None:
        row = ModelStateRow(program=program.name, state={}, version="", updated_at=clock.now())
        session.add(row)
        session.info.setdefault(_MODEL_ROWS, {})[program.name] = row
    row.state = keep_state_keys(row.state, model.pooled.to_json())
    row.version = model.version
    row.updated_at = clock.now()
    session.flush()


_MODEL_ROWS = "careloop.personalize.model_rows"


def _model_row(session: Session, program: str) -> ModelStateRow | None:
    """The program's model row, held for the rest of the session: the session's identity
    map keeps rows only while referenced, and decoding a model's state (a 403 x 403
    precision) again for the serving settings, each load and each save of one scheduler
    pass was a tenth of the demo's pilot."""
    rows: dict[str, ModelStateRow | None] = session.info.setdefault(_MODEL_ROWS, {})
    row = rows.get(program)
    if row is None:
        row = rows[program] = session.get(ModelStateRow, program)
    return row


def load_history(
    session: Session,
    *,
    program: ProgramSpec,
    patient_ids: Sequence[str],
    model: EngineModel,
    rows: Mapping[str, PreferenceProfileRow] | None = None,
) -> HistorySummary:
    """The learned per-patient state of ``patient_ids`` in one query (none when ``rows``,
    their :func:`profile_rows`, were read already)."""
    if rows is None:
        rows = {
            r.patient_id: r
            for r in session.scalars(
                select(PreferenceProfileRow).where(
                    any_of(session, PreferenceProfileRow.patient_id, patient_ids)
                )
            )
        }
    stored: list[dict[str, Any] | None] = []
    for pid in patient_ids:
        row = rows.get(pid)
        stored.append(row.learned.get(program.name) if row else None)
    return model.stored_history(stored, program.action_space)


def learn_from_events(
    session: Session,
    *,
    clock: Clock,
    program: ProgramSpec,
    config: EngineConfig | None = None,
    horizon: timedelta = DEFAULT_HORIZON,
) -> dict[str, int]:
    """Resolve rewards of the program's unlearned decisions from the event log and learn.

    Decisions still inside their horizon without a response wait for the next run.
    """
    now = clock.now()
    pending = session.scalars(
        select(DecisionRow).where(
            DecisionRow.program == program.name,
            DecisionRow.learned_at.is_(None),
            DecisionRow.channel.is_not(None),
        )
    ).all()
    if not pending:
        return {"learned": 0, "engaged": 0, "pending": 0}
    sent = [
        SentDecision(d.id, d.patient_id, ensure_utc(d.send_at or d.decided_at)) for d in pending
    ]
    since = min(s.sent_at for s in sent)
    events = list_events(session, kinds=sorted(RESPONSE_KINDS), since=since)
    rewards = {
        r.decision_id: r
        for r in resolve_rewards(decisions=sent, events=events, now=now, horizon=horizon)
    }
    resolved = [d for d in pending if rewards[d.id].status != RewardStatus.PENDING]
    if not resolved:
        return {"learned": 0, "engaged": 0, "pending": len(pending)}
    model = load_model(session, program=program, config=config)
    patient_ids = sorted({d.patient_id for d in resolved})
    history = load_history(session, program=program, patient_ids=patient_ids, model=model)
    index = {pid: i for i, pid in enumerate(patient_ids)}
    space = program.action_space
    choices = np.array([space.indices(logged_action(d)) for d in resolved], dtype=np.int64).reshape(
        len(resolved), len(space.sizes)
    )
    values = np.array([rewards[d.id].value or 0.0 for d in resolved])
    update_posteriors(
        pooled=model.pooled,
        history=history,
        features=_stored_features(resolved, model.pooled.dim),
        rows=np.array([index[d.patient_id] for d in resolved], dtype=np.int64),
        choices=choices,
        rewards=values,
        at=now,
        config=model.config,
    )
    for d in resolved:
        d.reward = rewards[d.id].value
        d.learned_at = now
    save_model(session, clock=clock, program=program, model=model)
    _save_history(
        session, clock=clock, program=program, patient_ids=patient_ids, history=history, space=space
    )
    return {
        "learned": len(resolved),
        "engaged": int(values.sum()),
        "pending": len(pending) - len(resolved),
    }


def _stored_features(rows: Sequence[DecisionRow], dim: int) -> FloatArray:
    """The features each decision used; rows logged without the context columns (before
    they existed, or by a caller that logged covariates only) get them as zeros: weekday,
    no earlier messages, so old logs still teach the covariate weights."""
    out = np.zeros((len(rows), dim))
    for i, row in enumerate(rows):
        values = np.asarray(row.features or [], dtype=np.float64)[:dim]
        out[i, : values.size] = values
    return out


def _save_history(
    session: Session,
    *,
    clock: Clock,
    program: ProgramSpec,
    patient_ids: Sequence[str],
    history: HistorySummary,
    space: ActionSpace,
) -> None:
    now = clock.now()
    for i, pid in enumerate(patient_ids):
        row = session.get(PreferenceProfileRow, pid)
        if row is None:
            row = PreferenceProfileRow(
                patient_id=pid, stated={}, learned={}, updated_at=now, updated_by="engine"
            )
            session.add(row)
        learned = dict(row.learned)
        state = history.row_json(i)
        state["space"] = [list(values) for _, values in space.factors]
        learned[program.name] = state
        row.learned = learned
        row.updated_at = now
    session.flush()


def _learned_summary(
    learned: Mapping[str, Any],
) -> dict[str, dict[str, dict[str, FactorEvidence]]]:
    """Per program, factor and value: counts and the patient's own posterior offset."""
    out: dict[str, dict[str, dict[str, FactorEvidence]]] = {}
    for program, state in learned.items():
        space = state.get("space")
        if not space:
            continue
        factors: dict[str, dict[str, FactorEvidence]] = {}
        flat = 0
        own_mean, own_sd = own_offsets(state, tuple(len(values) for values in space))
        names = ("channel", "send_window", "reading_level", "tone", "framing")
        for name, values in zip(names[: len(space)], space, strict=True):
            factors[name] = {}
            for value in values:
                factors[name][value] = FactorEvidence(
                    sent=round(state["sent"][flat]),
                    responded=round(state["responded"][flat]),
                    offset_mean=float(own_mean[flat]),
                    offset_sd=float(own_sd[flat]),
                )
                flat += 1
        out[program] = factors
    return out


def stated_from_options(
    *,
    channel: str | None = None,
    window: str | None = None,
    language: str | None = None,
    quiet_hours: str | None = None,
    reading_level: str | None = None,
    tone: str | None = None,
    caregiver_as_contact: bool | None = None,
) -> dict[str, Any]:
    """The changes a ``preferences set`` call asks for (``none`` clears a value)."""
    raw = {
        "channel": channel,
        "send_window": window,
        "language": language,
        "quiet_hours": quiet_hours,
        "reading_level": reading_level,
        "tone": tone,
    }
    changes: dict[str, Any] = {
        key: (None if value.lower() == "none" else value)
        for key, value in raw.items()
        if value is not None
    }
    if caregiver_as_contact is not None:
        changes["caregiver_as_contact"] = caregiver_as_contact
    return changes
