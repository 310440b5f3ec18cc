"""The rule that follows a prescribed tool: has the trend improved after N weeks?

Pure: readings, the day the tool was prescribed, the rule and ``now`` in; a verdict out.
The baseline is the mean of the readings in the first week after the prescription (or the
first reading, if that week had none); the recent value the mean of the last week before
``now``. Too early (fewer than ``weeks`` since the prescription) says nothing; fewer than two
readings says the tool is not being used, which the care team hears about instead of a trend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from statistics import fmean

from careloop.digitaltools.catalogue import Trend
from careloop.errors import InvalidInput

WEEK = timedelta(days=7)


class TrendStatus(StrEnum):
    TOO_EARLY = "too_early"
    NOT_USED = "not_used"
    IMPROVED = "improved"
    NOT_IMPROVED = "not_improved"


@dataclass(frozen=True, slots=True)
class TrendVerdict:
    status: TrendStatus
    baseline: float | None = None
    recent: float | None = None
    readings: int = 0

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.recent is None:
            return None
        return round(self.recent - self.baseline, 2)


def judge_trend(
    readings: Sequence[tuple[datetime, float]],
    *,
    prescribed_at: datetime,
    rule: Trend,
    now: datetime,
) -> TrendVerdict:
    """Has ``rule.measure`` moved ``rule.min_change`` the better way since ``prescribed_at``?"""
    if now < prescribed_at:
        raise InvalidInput("now is before the prescription", field="now")
    since = sorted((at, value) for at, value in readings if prescribed_at <= at <= now)
    if now - prescribed_at < rule.weeks * WEEK:
        return TrendVerdict(TrendStatus.TOO_EARLY, readings=len(since))
    if len(since) < 2:
        return TrendVerdict(TrendStatus.NOT_USED, readings=len(since))
    first_week = [v for at, v in since if at < prescribed_at + WEEK] or [since[0][1]]
    last_week = [v for at, v in since if at > now - WEEK] or [since[-1][1]]
    baseline, recent = fmean(first_week), fmean(last_week)
    gain = baseline - recent if rule.better == "down" else recent - baseline
    status = TrendStatus.IMPROVED if gain >= rule.min_change else TrendStatus.NOT_IMPROVED
    return TrendVerdict(status, round(baseline, 2), round(recent, 2), len(since))
