"""Pure journey rules: when the next step is due, whether its branch applies, when to escalate.

No database and no clock: the scheduler passes the enrollment's facts and ``now`` in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from careloop.clock import ensure_utc
from careloop.outreach.program import Branch, Escalation, OutreachProgram, Step, WaitOrigin


@dataclass(frozen=True, slots=True, kw_only=True)
class JourneyFacts:
    """What the rules look at for one enrollment."""

    enrolled_at: datetime
    anchors: Mapping[str, datetime]
    last_step_at: datetime | None
    last_reply_at: datetime | None
    event_times: Mapping[str, datetime]
    risk_band: str | None = None


def step_due_at(step: Step, facts: JourneyFacts) -> datetime | None:
    """When ``step`` is due; ``None`` when its origin has not happened (yet) or is unknown."""
    wait = step.wait
    if wait.origin is WaitOrigin.ENROLLMENT:
        base: datetime | None = facts.enrolled_at
    elif wait.origin is WaitOrigin.PREVIOUS:
        base = facts.last_step_at or facts.enrolled_at
    elif wait.origin is WaitOrigin.ANCHOR:
        base = facts.anchors.get(wait.anchor or "")
    else:
        base = facts.event_times.get(wait.event or "")
    return None if base is None else ensure_utc(base) + wait.offset


def branch_applies(step: Step, facts: JourneyFacts) -> bool:
    """``reply``/``no-reply`` steps look for a reply since the previous step (or enrollment);
    a ``risk`` step applies only to enrollments scored in that no-show risk band."""
    if step.risk is not None and step.risk != facts.risk_band:
        return False
    if step.when is Branch.ALWAYS:
        return True
    since = facts.last_step_at or facts.enrolled_at
    replied = facts.last_reply_at is not None and facts.last_reply_at >= since
    return replied if step.when is Branch.REPLY else not replied


def anchor_passed(step: Step, facts: JourneyFacts, *, now: datetime) -> bool:
    """A reminder before a record date is pointless once that date is past."""
    if step.wait.origin is not WaitOrigin.ANCHOR:
        return False
    anchor = facts.anchors.get(step.wait.anchor or "")
    return anchor is not None and anchor <= now


def should_escalate(*, escalation: Escalation, unanswered: int, escalated: bool) -> bool:
    return (
        not escalated
        and escalation.after_unanswered > 0
        and unanswered >= escalation.after_unanswered
    )


def first_due(program: OutreachProgram, facts: JourneyFacts, *, start: int = 0) -> datetime | None:
    """Due time of step ``start`` (anchors missing → the step is skipped at its turn: now)."""
    if start >= len(program.steps):
        return None
    return step_due_at(program.steps[start], facts) or facts.enrolled_at
