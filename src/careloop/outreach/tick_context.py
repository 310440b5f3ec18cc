"""What one tick carries: its context in, its report out, shared by the tick's use cases."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from careloop.channels.settings import ChannelsSettings
from careloop.clock import Clock
from careloop.content.library import Library
from careloop.outreach.audience import SliceReads
from careloop.outreach.config import OutreachSettings
from careloop.outreach.eligibility import EligibilitySource
from careloop.outreach.handoffs import CallTask, CheckinInvite, RescheduleOffer
from careloop.outreach.program import OutreachProgram
from careloop.personalize.snapshot import EngineConfig
from careloop.settings import Settings

log = logging.getLogger("careloop.outreach")
ACTOR = "outreach"


@dataclass
class TickReport:
    """What one tick did (counts only: no patient data)."""

    enrolled: int = 0
    holdout: int = 0
    decided: int = 0
    queued: int = 0
    caregiver_queued: int = 0
    blocked: int = 0
    skipped: int = 0
    escalated: int = 0
    completed: int = 0
    closed: int = 0
    by_program: dict[str, dict[str, int]] = field(default_factory=dict)
    call_tasks: list[CallTask] = field(default_factory=list, repr=False)
    checkins: list[CheckinInvite] = field(default_factory=list, repr=False)
    reschedule_offers: list[RescheduleOffer] = field(default_factory=list, repr=False)
    """Hand-offs for the workflow that ran the tick (not counts: never reported)."""

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.__dict__.items() if k not in _NOT_COUNTS}
        return counts | {"by_program": self.by_program}


_NOT_COUNTS = frozenset({"by_program", "call_tasks", "checkins", "reschedule_offers"})


@dataclass(frozen=True)
class TickContext:
    """Everything a tick needs besides the session and time (built once at the edge)."""

    clock: Clock
    programs: Sequence[OutreachProgram]
    eligibility: EligibilitySource
    settings: OutreachSettings = field(default_factory=OutreachSettings)
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)
    engine: EngineConfig = field(default_factory=EngineConfig)
    seed: int | None = None
    learn: bool = True
    """Learn from the event log first. A slice of ``careloop nightly`` does not: the night's
    opening tick learnt once for every slice."""
    follow_outcomes: bool = True
    """Follow every active enrollment's outcome. A nightly slice does not (the opening tick
    did, once, instead of once per slice)."""
    app_settings: Settings | None = None
    """The process settings, for hand-offs that queue through another workflow (an early
    reschedule offer signs its booking link with the secret key)."""
    library: Library | None = None
    """The approved content, for a caller whose content cannot change while it runs (the
    demo's pilot approves it before its first tick); None: read on every tick."""
    reads: SliceReads | None = None
    """Patients, consent and preferences kept from one batch to the next
    (:class:`~careloop.outreach.audience.SliceReads`), for a tick that writes none of them:
    a nightly slice, which does not learn (``learn`` must be False). None: read per batch."""

    def __post_init__(self) -> None:
        if self.reads is not None and self.learn:
            raise ValueError("a tick that learns changes profiles: it cannot keep reads")


TickCount = Literal[
    "enrolled",
    "holdout",
    "decided",
    "queued",
    "caregiver_queued",
    "blocked",
    "skipped",
    "escalated",
    "completed",
    "closed",
]
"""The counters of a :class:`TickReport` (a typo in a count's name fails the type check)."""


def bump(report: TickReport, program: str, key: TickCount, n: int = 1) -> None:
    setattr(report, key, getattr(report, key) + n)
    counts = report.by_program.setdefault(program, {})
    counts[key] = counts.get(key, 0) + n


@dataclass(frozen=True, slots=True)
class ProgramRun:
    """One program's pass through a tick: what each of its use cases reads (the tick's
    context, the program, the moment, the approved content) and the report they count into."""

    ctx: TickContext
    program: OutreachProgram
    now: datetime
    library: Library
    report: TickReport

    def count(self, key: TickCount, n: int = 1) -> None:
        bump(self.report, self.program.name, key, n)
