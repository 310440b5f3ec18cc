"""Rewards come from the event log, late replies included, pending until the horizon."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from careloop.personalize.rewards import RewardStatus, SentDecision, resolve_rewards

SENT = datetime(2026, 3, 2, 17, tzinfo=UTC)


@dataclass
class FakeEvent:
    kind: str
    patient_id: str | None
    occurred_at: datetime
    recorded_at: datetime
    subject_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


def test_late_recorded_reply_within_horizon_counts_and_is_flagged():
    decisions = [SentDecision("d1", "p1", SENT)]
    reply = FakeEvent("replied", "p1", SENT + timedelta(hours=2), SENT + timedelta(days=5))
    [reward] = resolve_rewards(decisions=decisions, events=[reply], now=SENT + timedelta(days=6))
    assert reward.status == RewardStatus.ENGAGED
    assert reward.value == 1.0
    assert reward.late


def test_no_reply_is_pending_until_the_horizon_then_zero():
    decisions = [SentDecision("d1", "p1", SENT)]
    early = resolve_rewards(decisions=decisions, events=[], now=SENT + timedelta(hours=10))
    late = resolve_rewards(decisions=decisions, events=[], now=SENT + timedelta(days=4))
    assert early[0].status == RewardStatus.PENDING
    assert early[0].value is None
    assert late[0].status == RewardStatus.NO_RESPONSE
    assert late[0].value == 0.0


def test_reply_is_credited_to_the_decision_it_names_or_else_the_latest():
    decisions = [
        SentDecision("d1", "p1", SENT),
        SentDecision("d2", "p1", SENT + timedelta(days=1)),
    ]
    named = FakeEvent(
        "clicked",
        "p1",
        SENT + timedelta(days=1, hours=2),
        SENT + timedelta(days=1, hours=2),
        subject_id="d1",
    )
    unnamed = FakeEvent(
        "completed", "p1", SENT + timedelta(days=1, hours=3), SENT + timedelta(days=1, hours=3)
    )
    rewards = resolve_rewards(
        decisions=decisions, events=[named, unnamed], now=SENT + timedelta(days=5)
    )
    assert [r.value for r in rewards] == [1.0, 1.0]
    outside = FakeEvent("replied", "p1", SENT + timedelta(days=9), SENT + timedelta(days=9))
    rewards = resolve_rewards(
        decisions=decisions[:1], events=[outside], now=SENT + timedelta(days=10)
    )
    assert rewards[0].value == 0.0
