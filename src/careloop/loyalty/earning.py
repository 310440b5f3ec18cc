"""Rewards earned from what the event log already says: completed care and weekly streaks.

A job (``careloop rewards earn``) reads the event log since a point in time and offers each
earning event to the ledger; the ledger's ``source_key`` makes a re-run earn nothing twice,
and its caps decide. Referrals and anything else a person vouches for are awarded by staff
(``careloop rewards award``).

A streak is ``weeks`` consecutive ISO weeks with at least one check-in (or reading); each
completed run of that many weeks earns once, keyed by the week it completed.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.events import EventKind, list_events
from careloop.loyalty.catalogue import Catalogue, Reward, TriggerKind
from careloop.loyalty.ledger import award
from careloop.security.principal import Principal

STREAK_EVENTS = {
    TriggerKind.CHECKIN_STREAK: str(EventKind.CHECKIN_SUBMITTED),
    TriggerKind.READING_STREAK: str(EventKind.READING_RECEIVED),
}


@dataclass
class EarnReport:
    """What one pass earned and refused, by reward (counts only: no patient ids)."""

    earned: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {"earned": dict(sorted(self.earned.items())), "refused": dict(self.refused)}


def completed_streaks(days: Iterable[date], *, weeks: int) -> list[str]:
    """ISO weeks (``2026-W09``) on which a run of ``weeks`` consecutive active weeks completed."""
    mondays = sorted({d - timedelta(days=d.weekday()) for d in days})
    found: list[str] = []
    run = 0
    previous: date | None = None
    for monday in mondays:
        run = run + 1 if previous is not None and monday - previous == timedelta(weeks=1) else 1
        previous = monday
        if run % weeks == 0:
            year, week, _ = monday.isocalendar()
            found.append(f"{year}-W{week:02d}")
    return found


def _offer(
    session: Session,
    report: EarnReport,
    *,
    catalogue: Catalogue,
    reward: Reward,
    patient_id: str,
    key: str,
    program: str | None,
    clock: Clock,
    principal: Principal,
) -> None:
    result = award(
        session, catalogue=catalogue, reward_id=reward.id, patient_id=patient_id,
        source_key=key, clock=clock, principal=principal, program=program,
    )  # fmt: skip
    if result.entry is not None:
        report.earned[reward.id] += 1
    elif result.refused is not None:
        report.refused[f"{reward.id}:{result.refused}"] += 1


def earn_rewards(
    session: Session,
    *,
    catalogue: Catalogue,
    since: datetime,
    clock: Clock,
    principal: Principal,
) -> EarnReport:
    """Offer every earning event since ``since`` (streaks: the whole history) to the ledger."""
    report = EarnReport()
    now = clock.now()
    for reward in catalogue.rewards:
        trigger = reward.trigger
        if trigger.kind is TriggerKind.PROGRAM_COMPLETED:
            events = list_events(session, kinds=[str(EventKind.COMPLETED)], since=since, until=now)
            for event in events:
                if event.patient_id and event.program in trigger.programs:
                    _offer(
                        session, report, catalogue=catalogue, reward=reward,
                        patient_id=event.patient_id, key=f"completed:{event.id}",
                        program=event.program, clock=clock, principal=principal,
                    )  # fmt: skip
        elif trigger.kind in STREAK_EVENTS and trigger.weeks is not None:
            days: dict[str, list[date]] = defaultdict(list)
            # The whole history: a run counted from a later start would complete on another
            # week and earn the same streak twice.
            events = list_events(session, kinds=[STREAK_EVENTS[trigger.kind]], until=now)
            for event in events:
                if event.patient_id:
                    days[event.patient_id].append(event.occurred_at.date())
            for patient_id in sorted(days):
                for week in completed_streaks(days[patient_id], weeks=trigger.weeks):
                    _offer(
                        session, report, catalogue=catalogue, reward=reward,
                        patient_id=patient_id, key=f"streak:{week}", program=None,
                        clock=clock, principal=principal,
                    )  # fmt: skip
    return report
