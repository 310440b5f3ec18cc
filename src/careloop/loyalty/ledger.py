"""The rewards ledger: earn within the caps, then fulfil (webhook or staff) or cancel.

Lifecycle of one entry (``reward_entries`` row)::

    (award) ──▶ earned ──fulfil──▶ fulfilled
                  │
                  └────cancel────▶ cancelled   (no longer counts against the caps)

- :func:`award` is the only way in. It locks the patient's row (PostgreSQL: ``FOR UPDATE``),
  counts the patient's entries of the calendar year from the ledger and refuses an award
  that would pass the reward's ``max_per_year`` or the compliance office's annual cap: no
  partial awards, no caps held in memory, so two workers cannot both slip under a cap.
- The same ``source_key`` (the event that earned it) never earns twice.
- Every transition is flushed, recorded as an event and audited (``changes.record_change``);
  a refusal is recorded too, so "why did I not get my reward" has an answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose
from careloop.changes import record_change
from careloop.clock import Clock
from careloop.db import get_or_missing, patient_rows
from careloop.errors import Conflict, InvalidInput, NotFound
from careloop.events import EventKind, record_event
from careloop.loyalty.catalogue import Catalogue
from careloop.models import Patient, RewardEntry
from careloop.security.principal import Principal


class RewardState(StrEnum):
    EARNED = "earned"
    FULFILLED = "fulfilled"
    CANCELLED = "cancelled"


class Fulfilment(StrEnum):
    """How a reward reached the patient: the vendor's callback, or a person at the desk."""

    WEBHOOK = "webhook"
    STAFF = "staff"


class Refusal(StrEnum):
    """Why an award was not made."""

    DUPLICATE = "duplicate"
    REWARD_CAP = "reward_cap"
    ANNUAL_CAP = "annual_cap"


@dataclass(frozen=True, slots=True)
class AwardResult:
    entry: RewardEntry | None
    refused: Refusal | None


@dataclass(frozen=True, slots=True)
class YearTotals:
    count_by_reward: dict[str, int]
    value_cents: int


def year_totals(session: Session, *, patient_id: str, year: int) -> YearTotals:
    """What the patient has earned this calendar year (cancelled entries do not count)."""
    rows = session.execute(
        select(
            RewardEntry.reward, func.count(), func.coalesce(func.sum(RewardEntry.value_cents), 0)
        )
        .where(
            RewardEntry.patient_id == patient_id,
            RewardEntry.year == year,
            RewardEntry.state != str(RewardState.CANCELLED),
        )
        .group_by(RewardEntry.reward)
    ).all()
    return YearTotals(
        count_by_reward={str(reward): int(n) for reward, n, _v in rows},
        value_cents=sum(int(v) for _r, _n, v in rows),
    )


def _lock_patient(session: Session, patient_id: str) -> None:
    found = session.scalars(
        select(Patient.id).where(Patient.id == patient_id).with_for_update()
    ).first()
    if found is None:
        raise NotFound("patient not found")


def award(
    session: Session,
    *,
    catalogue: Catalogue,
    reward_id: str,
    patient_id: str,
    source_key: str,
    clock: Clock,
    principal: Principal,
    program: str | None = None,
) -> AwardResult:
    """Earn ``reward_id`` for the patient unless a cap or an earlier award says no."""
    reward = catalogue.reward(reward_id)
    if not source_key:
        raise InvalidInput("source_key is required", field="source_key")
    _lock_patient(session, patient_id)
    now = clock.now()
    existing = session.scalars(
        select(RewardEntry.id).where(
            RewardEntry.patient_id == patient_id,
            RewardEntry.reward == reward.id,
            RewardEntry.source_key == source_key,
        )
    ).first()
    refused: Refusal | None = None
    totals = year_totals(session, patient_id=patient_id, year=now.year)
    if existing is not None:
        refused = Refusal.DUPLICATE
    elif totals.count_by_reward.get(reward.id, 0) >= reward.max_per_year:
        refused = Refusal.REWARD_CAP
    elif totals.value_cents + reward.value_cents > catalogue.compliance.annual_cap_cents:
        refused = Refusal.ANNUAL_CAP
    if refused is not None:
        if refused is not Refusal.DUPLICATE:
            record_event(
                session, kind=EventKind.REWARD_REFUSED, clock=clock, actor=principal.actor,
                patient_id=patient_id, program=program,
                payload={"reward": reward.id, "refused": str(refused)},
            )  # fmt: skip
        return AwardResult(entry=None, refused=refused)
    entry = RewardEntry(
        patient_id=patient_id, reward=reward.id, program=program, year=now.year,
        value_cents=reward.value_cents, source_key=source_key, state=str(RewardState.EARNED),
        earned_at=now, earned_by=principal.actor,
    )  # fmt: skip
    session.add(entry)
    session.flush()  # the entry's id names the event's subject
    record_change(
        session, clock=clock, principal=principal, event=EventKind.REWARD_EARNED,
        subject=("reward_entry", entry.id), resource="reward_entry", purpose=Purpose.OPERATIONS,
        patient_id=patient_id, program=program, action=AuditAction.CREATE,
        payload={"reward": reward.id, "value_cents": reward.value_cents},
    )  # fmt: skip
    return AwardResult(entry=entry, refused=None)


def _entry(session: Session, entry_id: int) -> RewardEntry:
    return get_or_missing(session, RewardEntry, entry_id, "reward entry not found")


def fulfil(
    session: Session,
    *,
    entry_id: int,
    how: Fulfilment,
    reference: str | None,
    clock: Clock,
    principal: Principal,
) -> RewardEntry:
    """earned → fulfilled: the gift reached the patient (vendor reference kept, no PHI)."""
    entry = _entry(session, entry_id)
    if entry.state == str(RewardState.FULFILLED):
        if entry.fulfilment_ref == reference:
            return entry  # a vendor retrying its callback changes nothing
        raise Conflict("the reward was already fulfilled")
    if entry.state != str(RewardState.EARNED):
        raise Conflict(f"a {entry.state} reward cannot be fulfilled")
    entry.state = str(RewardState.FULFILLED)
    entry.fulfilled_at = clock.now()
    entry.fulfilled_by = principal.actor
    entry.fulfilment = str(how)
    entry.fulfilment_ref = reference
    record_change(
        session, clock=clock, principal=principal, event=EventKind.REWARD_FULFILLED,
        subject=("reward_entry", entry.id), resource="reward_entry", purpose=Purpose.OPERATIONS,
        patient_id=entry.patient_id, program=entry.program,
        payload={"reward": entry.reward, "fulfilment": str(how)},
    )  # fmt: skip
    return entry


def cancel(
    session: Session, *, entry_id: int, reason: str, clock: Clock, principal: Principal
) -> RewardEntry:
    """earned → cancelled (e.g. earned in error); it stops counting against the caps."""
    if not reason.strip():
        raise InvalidInput("a reason is required", field="reason")
    entry = _entry(session, entry_id)
    if entry.state != str(RewardState.EARNED):
        raise Conflict(f"a {entry.state} reward cannot be cancelled")
    entry.state = str(RewardState.CANCELLED)
    entry.cancelled_reason = reason.strip()[:200]
    record_change(
        session, clock=clock, principal=principal, event=EventKind.REWARD_CANCELLED,
        subject=("reward_entry", entry.id), resource="reward_entry", purpose=Purpose.OPERATIONS,
        patient_id=entry.patient_id, program=entry.program, payload={"reward": entry.reward},
    )  # fmt: skip
    return entry


def rewards_of(session: Session, *, patient_id: str) -> list[RewardEntry]:
    """The patient's ledger, newest first (the portal and the console show it)."""
    return patient_rows(
        session, RewardEntry, patient_id, RewardEntry.earned_at.desc(), RewardEntry.id.desc()
    )


def earners(session: Session, *, since: datetime, until: datetime) -> dict[str, tuple[int, int]]:
    """Patient -> (rewards, value in cents) earned in the period and not cancelled (reports)."""
    rows = session.execute(
        select(RewardEntry.patient_id, func.count(), func.sum(RewardEntry.value_cents))
        .where(
            RewardEntry.earned_at >= since,
            RewardEntry.earned_at < until,
            RewardEntry.state != str(RewardState.CANCELLED),
        )
        .group_by(RewardEntry.patient_id)
    ).all()
    return {str(pid): (int(n), int(v or 0)) for pid, n, v in rows}
