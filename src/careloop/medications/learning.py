"""When to remind: a slot's reminder time learned from the patient's own confirmations.

Pure. The reminder time is the median of the recent "taken" confirmations, measured as a
signed distance from the slot's default (so a bedtime dose taken at 23:50 and 00:10 has a
median near midnight, not noon). The median is robust: one dose taken late at a party does
not move tomorrow's reminder. Fewer than ``MIN_CONFIRMATIONS`` keep the prescription's
default. Whatever is learned, a reminder never falls in the patient's quiet hours: it moves to
the nearest allowed minute, and the basis sentence says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from careloop.medications.timing import DAY_MINUTES
from careloop.personalize.profile import QuietHours

MIN_CONFIRMATIONS = 3
RECENT_CONFIRMATIONS = 14
"""About two weeks of a daily dose: long enough to be robust, short enough to follow a change
of routine (a new job, a move) within days."""


@dataclass(frozen=True, slots=True)
class LearnedTime:
    """The local minute to remind at and the sentence that explains it."""

    minute: int
    basis: str


def clock_label(minute: int) -> str:
    hours, minutes = divmod(minute % DAY_MINUTES, 60)
    return f"{hours:02d}:{minutes:02d}"


def _signed(minute: int, origin: int) -> int:
    """``minute`` as a distance from ``origin`` in [-720, 720)."""
    return (minute - origin + DAY_MINUTES // 2) % DAY_MINUTES - DAY_MINUTES // 2


def out_of_quiet_hours(minute: int, quiet: QuietHours) -> int:
    """``minute`` itself, or the nearest minute outside quiet hours ``[start, end)``."""
    if not quiet.contains(minute):
        return minute
    after_end = (quiet.end_minute - minute) % DAY_MINUTES
    before_start = (minute - quiet.start_minute) % DAY_MINUTES + 1
    if after_end <= before_start:
        return quiet.end_minute
    return (quiet.start_minute - 1) % DAY_MINUTES


def learned_time(
    *, default_minute: int, timing: str, taken_minutes: Sequence[int], quiet: QuietHours
) -> LearnedTime:
    """The reminder minute for one slot from its most recent "taken" minutes (newest last)."""
    recent = list(taken_minutes)[-RECENT_CONFIRMATIONS:]
    if len(recent) >= MIN_CONFIRMATIONS:
        middle = median(_signed(m, default_minute) for m in recent)
        minute = round(default_minute + middle) % DAY_MINUTES
        basis = f"learned from {len(recent)} confirmations, median {clock_label(minute)}"
    else:
        minute = default_minute
        basis = f"from the prescription ({timing}): {clock_label(minute)}"
        if recent:
            basis += f"; {len(recent)} confirmations so far, {MIN_CONFIRMATIONS} needed to learn"
    allowed = out_of_quiet_hours(minute, quiet)
    if allowed != minute:
        basis += f"; moved to {clock_label(allowed)}, outside quiet hours {quiet.label}"
    return LearnedTime(allowed, basis)
