"""The human call queue: open call tasks ranked by the benefit of a call per staff minute.

The evidence is a randomized holdout of the call tasks themselves: each task is drawn into
the *call* arm with probability ``CALL_SHARE`` by a hash of its id (a coin that needs no stored
seed, so the propensity is known exactly and every re-run agrees); held-out tasks stay
digital-only. A task's outcome is whether its program's enrollment completed within
``OUTCOME_WINDOW`` of the task. Once both arms have ``MIN_PER_ARM`` resolved tasks, a
DR-learner (``personalize.uplift``) estimates each open task's uplift from the patient's
covariates; before that the queue keeps the due-date order and says so.

The model is cached per process (:func:`cached_call_uplift`) rather than stored by a job: a
fit is one query for the outcomes plus one snapshot batch, so a fresh one is cheap, and the
cache is keyed on what the fit reads (resolved call tasks past their window, completed
enrollments) so a new outcome refits at once; only covariates (consent, contacts) may lag
by up to ``MODEL_TTL_S``. A job would need a stored model and a migration for no gain here.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from weakref import WeakKeyDictionary

import numpy as np
from pydantic import BaseModel
from sqlalchemy import Engine, Select, func, select
from sqlalchemy.orm import Session

from careloop.careteam.alerts import ACTIVE
from careloop.careteam.worklist import WorklistEntry, entry_of
from careloop.models import Enrollment, WorklistItem
from careloop.outreach.audience import build_snapshots
from careloop.personalize.actions import ActionSpace
from careloop.personalize.callqueue import CallCandidate, call_minutes, rank_calls
from careloop.personalize.features import Featurizer
from careloop.personalize.profile import StatedPreferences
from careloop.personalize.uplift import UpliftModel, fit_dr_learner

CALL_RULE_PREFIX = "outreach-call:"
CALL_SHARE = 0.8
MIN_PER_ARM = 30
OUTCOME_WINDOW = timedelta(days=30)
_PURPOSE = "care-reminders"
MODEL_TTL_S = 300.0
"""How long (seconds) a process reuses a fitted model whose inputs' fingerprint is unchanged."""


@lru_cache(maxsize=1 << 17)
def call_arm(item_id: int) -> tuple[bool, float]:
    """(called?, exact propensity of being called) for one call task."""
    digest = hashlib.sha256(f"call-queue|{item_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    return draw < CALL_SHARE, CALL_SHARE


class CallQueueEntry(BaseModel):
    """A worklist entry with its place in the call queue and the reason."""

    entry: WorklistEntry
    rank: int
    arm: str
    uplift: float | None
    minutes: float
    reason: str


def _call_items(session: Session, *, active: bool) -> list[WorklistItem]:
    query = select(WorklistItem).where(WorklistItem.rule_id.startswith(CALL_RULE_PREFIX))
    statuses = [str(s) for s in ACTIVE]
    query = query.where(
        WorklistItem.status.in_(statuses) if active else WorklistItem.status.not_in(statuses)
    )
    return list(session.scalars(query.order_by(WorklistItem.id)))


def _features(
    session: Session, items: list[WorklistItem], now: datetime
) -> tuple[np.ndarray, dict[str, str]]:
    ids = sorted({i.patient_id for i in items if i.patient_id})
    snapshots, _ = build_snapshots(
        session, patient_ids=ids, purpose=_PURPOSE, now=now, budget_period=timedelta(days=7)
    )
    by_id = {s.patient_id: s for s in snapshots}
    featurizer = Featurizer(ActionSpace())
    rows = [
        (by_id[i.patient_id].covariates if i.patient_id else {}, StatedPreferences()) for i in items
    ]
    pronouns = {pid: s.pronoun for pid, s in by_id.items()}
    return featurizer.matrix(rows), pronouns


def _resolved_call_items(query: Select[Any]) -> Select[Any]:
    statuses = [str(s) for s in ACTIVE]
    return query.where(
        WorklistItem.rule_id.startswith(CALL_RULE_PREFIX), WorklistItem.status.not_in(statuses)
    )


def _completed_ids(session: Session) -> set[int]:
    """Resolved call tasks whose program's enrollment completed within the outcome window:
    one query for all of them (it was one query per task)."""
    rows = session.execute(
        _resolved_call_items(
            select(WorklistItem.id, WorklistItem.raised_at, Enrollment.state_changed_at).join(
                Enrollment,
                (Enrollment.patient_id == WorklistItem.patient_id)
                & (Enrollment.program == WorklistItem.program),
            )
        ).where(Enrollment.state == "completed", Enrollment.state_changed_at.is_not(None))
    )
    return {
        item_id for item_id, raised, changed in rows if raised <= changed <= raised + OUTCOME_WINDOW
    }


def fit_call_uplift(session: Session, *, now: datetime) -> UpliftModel | None:
    """A DR-learner on the resolved call tasks whose outcome window has passed, or None."""
    items = [
        i
        for i in _call_items(session, active=False)
        if i.patient_id and i.raised_at + OUTCOME_WINDOW <= now
    ]
    arms = [call_arm(i.id) for i in items]
    treated = np.array([a for a, _ in arms], dtype=bool)
    if treated.sum() < MIN_PER_ARM or (~treated).sum() < MIN_PER_ARM:
        return None
    x, _ = _features(session, items, now)
    completed = _completed_ids(session)
    outcome = np.array([1.0 if i.id in completed else 0.0 for i in items])
    propensity = np.array([p for _, p in arms])
    return fit_dr_learner(x, treated, outcome, propensity)


def call_queue(
    session: Session, *, now: datetime, model: UpliftModel | None = None
) -> list[CallQueueEntry]:
    """Open call tasks, the call arm by benefit per minute, then the held-out (digital-only)."""
    items = [i for i in _call_items(session, active=True) if i.patient_id]
    if not items:
        return []
    called = [i for i in items if call_arm(i.id)[0]]
    held = [i for i in items if not call_arm(i.id)[0]]
    out: list[CallQueueEntry] = []
    if model is not None and called:
        # Covariates only where the model ranks: the call arm (the holdout keeps due order).
        rows, pronouns = _features(session, called, now)
        uplift, baseline = model.predict(rows), model.baseline(rows)
        ranked = rank_calls(
            [
                CallCandidate(
                    task_id=i.id,
                    rule_id=i.rule_id,
                    due_at=i.due_at,
                    uplift=float(u),
                    baseline=float(b),
                    pronoun=pronouns.get(i.patient_id or "", "they"),
                )
                for i, u, b in zip(called, uplift, baseline, strict=True)
            ],
            now=now,
        )
        by_id = {i.id: i for i in called}
        for r in ranked:
            out.append(
                CallQueueEntry(
                    entry=entry_of(by_id[r.task_id], now=now),
                    rank=r.rank,
                    arm="call",
                    uplift=round(r.uplift, 4),
                    minutes=r.minutes,
                    reason=r.reason,
                )
            )
    else:
        _by_due_date(out, called, arm="call", reason=_NO_MODEL, now=now)
    _by_due_date(out, held, arm="holdout", reason=_HELD_OUT, now=now)
    return out


_NO_MODEL = (
    "Not enough calls and held-out tasks yet to estimate what a call adds: ordered by due date."
)
_HELD_OUT = (
    "Held out at random (digital outreach only), so the team can measure what calls add; "
    "please do not call."
)


def _by_due_date(
    out: list[CallQueueEntry],
    items: list[WorklistItem],
    *,
    arm: str,
    reason: str,
    now: datetime,
) -> None:
    """Append ``items`` to the queue in due-date order, for want of (or outside) the model."""
    for i in sorted(items, key=lambda i: (i.due_at, i.id)):
        out.append(
            CallQueueEntry(
                entry=entry_of(i, now=now),
                rank=len(out) + 1,
                arm=arm,
                uplift=None,
                minutes=call_minutes(i.rule_id),
                reason=reason,
            )
        )


def ranked_call_queue(session: Session, *, now: datetime) -> list[CallQueueEntry]:
    """The queue with the uplift model fitted on the holdout as it stands now."""
    return call_queue(session, now=now, model=cached_call_uplift(session, now=now))


def call_queue_page(
    session: Session, *, now: datetime, offset: int, limit: int
) -> tuple[list[CallQueueEntry], int]:
    """Rows ``offset`` to ``offset + limit`` of :func:`ranked_call_queue`, and how many open
    calls there are. Without a model the order is the due date in each arm: the database
    gives the open call tasks' ids by due time (a partial index), a few at a time until the
    page's call-arm rows are found (each id's arm is its coin, cached: it never changes), and
    only the page's tasks are read whole. Reading every open call task took 2 s of CPU a view
    at 100,000 patients (32,250 of them); the first pages now read about 70 ids. A page of
    the held-out calls, which come after every call-arm one, reads all the ids. With a model
    every call-arm task is scored, so the whole queue is ranked and sliced."""
    model = cached_call_uplift(session, now=now)
    if model is not None:
        queue = call_queue(session, now=now, model=model)
        return queue[offset : offset + limit], len(queue)
    statuses = [str(s) for s in ACTIVE]
    open_calls = select(WorklistItem.id).where(
        WorklistItem.rule_id.like(CALL_RULE_PREFIX + "%"),
        WorklistItem.status.in_(statuses),
        WorklistItem.patient_id.is_not(None),
        WorklistItem.patient_id != "",
    )
    total = int(session.scalar(select(func.count()).select_from(open_calls.subquery())) or 0)
    called: list[int] = []
    held: list[int] = []
    read = 0
    while len(called) < offset + limit and read < total:
        batch = max(2 * (offset + limit), 200)
        ids = session.scalars(
            open_calls.order_by(WorklistItem.due_at, WorklistItem.id).offset(read).limit(batch)
        ).all()
        if not ids:
            break
        read += len(ids)
        for item_id in ids:
            (called if call_arm(item_id)[0] else held).append(item_id)
    ordered = [(False, i) for i in called]
    if read >= total:  # every id read: the held-out calls follow the call arm
        ordered += [(True, i) for i in held]
    shown = ordered[offset : offset + limit]
    wanted = [item_id for _, item_id in shown]
    items = (
        {i.id: i for i in session.scalars(select(WorklistItem).where(WorklistItem.id.in_(wanted)))}
        if wanted
        else {}
    )
    page = []
    for rank, (is_held, item_id) in enumerate(shown, start=offset + 1):
        item = items[item_id]
        page.append(
            CallQueueEntry(
                entry=entry_of(item, now=now),
                rank=rank,
                arm="holdout" if is_held else "call",
                uplift=None,
                minutes=call_minutes(item.rule_id),
                reason=_HELD_OUT if is_held else _NO_MODEL,
            )
        )
    return page, total


@dataclass(frozen=True)
class _Fitted:
    at: float
    fingerprint: tuple[Any, ...]
    model: UpliftModel | None


_FITTED: WeakKeyDictionary[Engine, _Fitted] = WeakKeyDictionary()
"""Per database engine (a test's or a process's), gone with it."""


def _fingerprint(session: Session, now: datetime) -> tuple[Any, ...]:
    """What a fit would read, in two aggregates: its tasks (count, last id, last resolution
    among those past their window) and the last enrollment completed (one index descent on
    ``(state, state_changed_at)``; counting every completed enrollment took 340 ms a view at
    100,000 patients). A completion stamped earlier than the last one (an import), or an
    erased patient's, is seen when ``MODEL_TTL_S`` runs out."""
    tasks = session.execute(
        _resolved_call_items(
            select(func.count(), func.max(WorklistItem.id), func.max(WorklistItem.resolved_at))
        ).where(WorklistItem.raised_at <= now - OUTCOME_WINDOW)
    ).one()
    last_outcome = session.scalar(
        select(func.max(Enrollment.state_changed_at)).where(Enrollment.state == "completed")
    )
    return (*tasks, last_outcome)


def cached_call_uplift(session: Session, *, now: datetime) -> UpliftModel | None:
    """:func:`fit_call_uplift`, reused for ``MODEL_TTL_S`` while its inputs are unchanged
    (a page view refitted the model on every request: 38 s at 10,000 patients)."""
    key = session.get_bind().engine
    fingerprint = _fingerprint(session, now)
    kept = _FITTED.get(key)
    if (
        kept is not None
        and kept.fingerprint == fingerprint
        and time.monotonic() - kept.at < MODEL_TTL_S
    ):
        return kept.model
    model = fit_call_uplift(session, now=now)
    _FITTED[key] = _Fitted(time.monotonic(), fingerprint, model)
    return model
