"""The window a program run looks at, and the period key that makes re-runs idempotent.

- ``calendar-year``: the measurement period. ``--period A/B`` as given; ``--as-of D`` the
  calendar year of D. Key: the period.
- ``lookback``: the ``months`` up to the as-of day (``--period A/B`` looks back from B). Key:
  the as-of month, so a rolling program re-announces an unchanged gap at most once a month.
- ``season`` (e.g. flu, 08-01 to 03-31): from the season's first day to the as-of day. Key:
  the season. Outside the season the run finds nobody and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from dateutil.relativedelta import relativedelta

from careloop.errors import InvalidInput
from careloop.programs.measures.timing import ONE_MS, parse_period
from careloop.programs.schema import PeriodSpec


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    key: str
    as_of: date
    note: str | None = None

    @property
    def in_effect(self) -> bool:
        return self.note is None

    @property
    def label(self) -> str:
        return _label(self.start, self.end)


@lru_cache(maxsize=64)
def _label(start: datetime, end: datetime) -> str:
    """A window's label, made once (every verdict of a run carries it)."""
    return f"{start.date().isoformat()}/{end.date().isoformat()}"


def _day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _day_end(day: date) -> datetime:
    return _day_start(day) + timedelta(days=1) - ONE_MS


def _month_day(text: str, year: int) -> date:
    month, day = (int(part) for part in text.split("-"))
    return date(year, month, day)


def parse_as_of(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput("as-of must be an ISO date such as 2025-10-01", field="as_of") from None


def resolve_window(
    spec: PeriodSpec, *, now: datetime, period: str | None = None, as_of: date | None = None
) -> Window:
    """The window for one run: ``period`` (START/END) or ``as_of`` override ``now``."""
    if period is not None and as_of is not None:
        raise InvalidInput("give either a period or an as-of date, not both", field="period")
    explicit = parse_period(period) if period is not None else None
    day = explicit[1].date() if explicit else (as_of or now.astimezone(UTC).date())
    if spec.kind == "calendar-year":
        if explicit is not None:
            start, end = explicit
        else:
            start, end = _day_start(date(day.year, 1, 1)), _day_end(date(day.year, 12, 31))
        return Window(start, end, f"{start.date().isoformat()}/{end.date().isoformat()}", day)
    if spec.kind == "lookback":
        assert spec.months is not None
        first = day - relativedelta(months=spec.months) + timedelta(days=1)
        key = period if period is not None else f"{day.year:04d}-{day.month:02d}"
        return Window(_day_start(first), _day_end(day), f"lookback:{key}", day)
    assert spec.start is not None
    assert spec.end is not None
    season_start = _month_day(spec.start, day.year)
    if day < season_start:
        season_start = _month_day(spec.start, day.year - 1)
    season_end = _month_day(spec.end, season_start.year)
    if season_end < season_start:
        season_end = _month_day(spec.end, season_start.year + 1)
    key = f"{season_start.isoformat()}/{season_end.isoformat()}"
    if day > season_end:
        return Window(
            _day_start(season_start),
            _day_end(season_end),
            key,
            day,
            note=f"outside the season ({spec.start} to {spec.end}): nobody is due",
        )
    return Window(_day_start(season_start), _day_end(day), key, day)
