"""Rank the human call queue by expected benefit per minute of staff time, and say why.

Benefit is the estimated uplift of a call over digital-only outreach (``uplift.py``); cost is
the typical length of that kind of call. Ties (equal benefit per minute) fall back to the due
date, then the task id, so the order is total and stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

# Typical staff minutes per call, by task type (rule prefix); dialling, talking, notes.
CALL_MINUTES: Mapping[str, float] = {
    "outreach-call": 8.0,
    "checkin-missing": 6.0,
    "unmatched-sender": 5.0,
}
DEFAULT_MINUTES = 10.0


def task_type(rule_id: str) -> str:
    """``outreach-call:flu-shot`` -> ``outreach-call``."""
    return rule_id.split(":", 1)[0]


def call_minutes(rule_id: str, minutes: Mapping[str, float] = CALL_MINUTES) -> float:
    return float(minutes.get(task_type(rule_id), DEFAULT_MINUTES))


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCandidate:
    """One open call task with its estimates."""

    task_id: int
    rule_id: str
    due_at: datetime
    uplift: float
    baseline: float
    pronoun: str = "they"


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedCall:
    task_id: int
    rank: int
    uplift: float
    baseline: float
    minutes: float
    benefit_per_minute: float
    reason: str


def _pct(p: float) -> str:
    return f"{round(100 * p)} %"


def explain_call(candidate: CallCandidate, minutes: float, *, now: datetime | None = None) -> str:
    """One sentence a nurse can read: what a call adds, against what, for how much time."""
    subject = candidate.pronoun
    verb = "close" if subject == "they" else "closes"
    points = round(100 * candidate.uplift)
    if points <= 0:
        head = (
            f"A call is not expected to help: {subject} would likely act on messages alone "
            f"({_pct(candidate.baseline)} chance)"
            if candidate.baseline >= 0.5
            else f"A call is not expected to change whether {subject} {verb} the gap"
        )
    else:
        head = (
            f"A call should raise the chance {subject} {verb} the gap by {points} points "
            f"(messages alone: {_pct(candidate.baseline)})"
        )
    tail = f"; about {round(minutes)} minutes"
    if now is not None:
        days = (candidate.due_at - now).days
        if days < 0:
            tail += f", overdue by {-days} days"
        elif days == 0:
            tail += ", due today"
        else:
            tail += f", due in {days} days"
    return head + tail + "."


def rank_calls(
    candidates: Sequence[CallCandidate],
    *,
    minutes: Mapping[str, float] = CALL_MINUTES,
    now: datetime | None = None,
) -> list[RankedCall]:
    """Most benefit per staff minute first; due date, then id, break ties."""
    scored = []
    for c in candidates:
        length = call_minutes(c.rule_id, minutes)
        scored.append((c.uplift / length, length, c))
    scored.sort(key=lambda s: (-s[0], s[2].due_at, s[2].task_id))
    return [
        RankedCall(
            task_id=c.task_id,
            rank=i + 1,
            uplift=c.uplift,
            baseline=c.baseline,
            minutes=length,
            benefit_per_minute=per_minute,
            reason=explain_call(c, length, now=now),
        )
        for i, (per_minute, length, c) in enumerate(scored)
    ]
