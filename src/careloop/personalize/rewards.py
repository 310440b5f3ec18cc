"""Rewards from the event log: did the patient engage with a decision within the horizon?

A reply, a confirmation, a click or a completed call to action counts, attributed to the
decision it names (``subject_id`` or ``payload["decision_id"]``) or else to the patient's
latest decision before it. What counts is when the response *happened*
(``occurred_at``), not when it was recorded: a reply that reaches us late (a delayed
webhook, a batch upload) still rewards the decision it belongs to, and is flagged ``late``.
A decision without a response stays ``pending`` until its horizon has passed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from careloop.clock import ensure_utc

# EventKind values (kept as strings: the engine is a leaf and does not import the event log)
RESPONSE_KINDS = frozenset({"replied", "confirmed", "clicked", "completed"})
DEFAULT_HORIZON = timedelta(hours=72)


class EventLike(Protocol):
    """The fields of an event-log row the reward rules read."""

    @property
    def kind(self) -> str: ...
    @property
    def patient_id(self) -> str | None: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def recorded_at(self) -> datetime: ...
    @property
    def subject_id(self) -> str | None: ...
    @property
    def payload(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SentDecision:
    """A decision that went out: its id, patient and when it was sent."""

    decision_id: str
    patient_id: str
    sent_at: datetime


class RewardStatus(StrEnum):
    ENGAGED = "engaged"
    NO_RESPONSE = "no_response"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class Reward:
    decision_id: str
    status: RewardStatus
    value: float | None
    responded_at: datetime | None = None
    late: bool = False


def resolve_rewards(
    *,
    decisions: Sequence[SentDecision],
    events: Iterable[EventLike],
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> list[Reward]:
    """One reward per decision, from the responses in ``events`` (any order)."""
    now = ensure_utc(now)
    by_id = {d.decision_id: d for d in decisions}
    by_patient: dict[str, list[SentDecision]] = defaultdict(list)
    for d in decisions:
        by_patient[d.patient_id].append(d)
    for items in by_patient.values():
        items.sort(key=lambda d: d.sent_at)

    first: dict[str, tuple[datetime, bool]] = {}
    for event in events:
        if event.kind not in RESPONSE_KINDS:
            continue
        occurred = ensure_utc(event.occurred_at)
        target = _attribute(event, by_id, by_patient, occurred)
        if target is None:
            continue
        deadline = target.sent_at + horizon
        if not target.sent_at <= occurred <= deadline:
            continue
        late = ensure_utc(event.recorded_at) > deadline
        if target.decision_id not in first or occurred < first[target.decision_id][0]:
            first[target.decision_id] = (occurred, late)

    out: list[Reward] = []
    for d in decisions:
        if d.decision_id in first:
            occurred, late = first[d.decision_id]
            out.append(Reward(d.decision_id, RewardStatus.ENGAGED, 1.0, occurred, late))
        elif now >= d.sent_at + horizon:
            out.append(Reward(d.decision_id, RewardStatus.NO_RESPONSE, 0.0))
        else:
            out.append(Reward(d.decision_id, RewardStatus.PENDING, None))
    return out


def _attribute(
    event: EventLike,
    by_id: Mapping[str, SentDecision],
    by_patient: Mapping[str, list[SentDecision]],
    occurred: datetime,
) -> SentDecision | None:
    named = event.subject_id if event.subject_id in by_id else event.payload.get("decision_id")
    if isinstance(named, str) and named in by_id:
        return by_id[named]
    if event.patient_id is None:
        return None
    latest: SentDecision | None = None
    for d in by_patient.get(event.patient_id, []):
        if d.sent_at <= occurred:
            latest = d
    return latest
