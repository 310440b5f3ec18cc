"""Dates, intervals and the CQL timing relations the eCQMs use, on plain Python datetimes.

An interval is a ``(start, end)`` pair of aware datetimes. CQL distinguishes a boundary that is
unbounded (a closed null: ``Interval[x, null]`` runs to the end of time) from one that is
unknown (an open null): unbounded boundaries are ``BEGINNING``/``END_OF_TIME``, unknown ones are
``None``. A relation that needs an unknown boundary is not met (CQL's null is not true).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from dateutil.relativedelta import relativedelta

from careloop.errors import InvalidInput
from careloop.fhirdata import dates

BEGINNING = datetime(1, 1, 1, tzinfo=UTC)
END_OF_TIME = datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)
ONE_MS = timedelta(milliseconds=1)

Interval = tuple[datetime | None, datetime | None]


def parse_date(text: str | None) -> date | None:
    value = dates.instant(text)
    return value.date() if value else None


def point(value: Any) -> datetime | None:
    """A FHIR date or dateTime as an aware datetime (dates at midnight UTC); None if bad.

    A dateTime keeps the offset it was written with: comparisons are instants, but
    ``.date()`` is the date as written, which is what CQL compares at day precision (offsets
    are normalised only at hour precision or finer, CQL 1.5 "Comparison Operators").
    """
    if isinstance(value, str) and len(value) > 10:
        # The common case, a full dateTime, parsed once: what the general path below gives
        # for any text ``fromisoformat`` reads as written (no surrounding space, so the
        # strip it does changes nothing and the length rules for partial dates never apply).
        try:
            written = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return written if written.tzinfo is not None else written.replace(tzinfo=UTC)
    moment = dates.instant(value)
    if moment is None or len(value) <= 10:
        return moment
    written = datetime.fromisoformat(value.strip())
    return written if written.tzinfo is not None else moment


def period_interval(period: Any) -> Interval | None:
    """FHIRHelpers.ToInterval(Period): a missing start is unknown, a missing end unbounded."""
    if not isinstance(period, dict):
        return None
    start = point(period.get("start"))
    end = point(period.get("end"))
    if start is None:
        return (None, end) if end is not None else None
    return (start, end if end is not None else END_OF_TIME)


def age_interval(age: Any, birth: date | None, *, upper: Any = None) -> Interval | None:
    """An Age (or Range of ages) as the year(s) of life it names, as QICoreCommon does."""
    if birth is None or not isinstance(age, dict) or age.get("value") is None:
        return None
    born = datetime(birth.year, birth.month, birth.day, tzinfo=UTC)
    low = born + relativedelta(years=int(age["value"]))
    high_age = upper if isinstance(upper, dict) and upper.get("value") is not None else age
    high = born + relativedelta(years=int(high_age["value"]) + 1) - ONE_MS
    return (low, high)


def choice_interval(resource: dict[str, Any], prefix: str, birth: date | None) -> Interval | None:
    """QICoreCommon.toInterval() of a choice element such as ``effective[x]`` or ``onset[x]``."""
    for kind in ("DateTime", "Period", "Instant"):
        value = resource.get(prefix + kind)
        if value is None:
            continue
        if kind == "Period":
            return period_interval(value)
        moment = point(value)
        return (moment, moment) if moment else None
    age = resource.get(prefix + "Age")
    if age is not None:
        return age_interval(age, birth)
    age_range = resource.get(prefix + "Range")
    if isinstance(age_range, dict):
        return age_interval(age_range.get("low"), birth, upper=age_range.get("high"))
    return None


def latest(interval: Interval | None) -> datetime | None:
    """QICoreCommon.latest(): the end if bounded, else the start."""
    if interval is None:
        return None
    start, end = interval
    if end is not None and end != END_OF_TIME:
        return end
    return start if start != BEGINNING else None


def as_point_interval(moment: datetime | None) -> Interval | None:
    return (moment, moment) if moment is not None else None


def day(moment: datetime) -> date:
    return moment.date()


# ----- relations (``day`` variants compare at day precision) -----------------------------------


def during_day(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[0] is None or iv[1] is None:
        return False
    return iv[0].date() >= low.date() and iv[1].date() <= high.date()


def during(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[0] is None or iv[1] is None:
        return False
    return iv[0] >= low and iv[1] <= high


def overlaps_day(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[0] is None or iv[1] is None:
        return False
    return iv[0].date() <= high.date() and iv[1].date() >= low.date()


def overlaps(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[0] is None or iv[1] is None:
        return False
    return iv[0] <= high and iv[1] >= low


def _in_day(moment: datetime, low: datetime, high: datetime) -> bool:
    """CQL ``moment in day of [low, high]``: the dates as written; the same instant as a
    boundary is in (as the reference engine's ``Interval.contains`` decides first)."""
    return moment in (low, high) or low.date() <= moment.date() <= high.date()


def point_during_day(iv: Interval | None, low: datetime, high: datetime) -> bool:
    """CQL ``point during day of [low, high]`` (the ``In`` operator), for fields that are a
    point in CQL (``latest()``, ``issued``, ``authoredOn``): as ``_in_day``. An interval of one
    instant is ``IncludedIn`` instead, with no boundary rule (``during_day``)."""
    if iv is None or iv[0] is None:
        return False
    return _in_day(iv[0], low, high)


def starts_during_day(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[0] is None:
        return False
    return _in_day(iv[0], low, high)


def ends_during_day(iv: Interval | None, low: datetime, high: datetime) -> bool:
    if iv is None or iv[1] is None:
        return False
    return _in_day(iv[1], low, high)


def ends_on_or_before(iv: Interval | None, _low: datetime, high: datetime) -> bool:
    return iv is not None and iv[1] is not None and iv[1] <= high


def ends_on_or_before_day(iv: Interval | None, _low: datetime, high: datetime) -> bool:
    return iv is not None and iv[1] is not None and iv[1].date() <= high.date()


def starts_on_or_before(iv: Interval | None, _low: datetime, high: datetime) -> bool:
    return iv is not None and iv[0] is not None and iv[0] <= high


def starts_on_or_before_day(iv: Interval | None, _low: datetime, high: datetime) -> bool:
    return iv is not None and iv[0] is not None and iv[0].date() <= high.date()


# The relations that differ when the field is a point rather than an interval.
POINT_RELATIONS = {"during_day": point_during_day}

RELATIONS = {
    "during_day": during_day,
    "during": during,
    "overlaps_day": overlaps_day,
    "overlaps": overlaps,
    "starts_during_day": starts_during_day,
    "ends_during_day": ends_during_day,
    "ends_on_or_before": ends_on_or_before,
    "ends_on_or_before_day": ends_on_or_before_day,
    "starts_on_or_before": starts_on_or_before,
    "starts_on_or_before_day": starts_on_or_before_day,
}


# ----- anchors: points in time relative to the measurement period -------------------------------

_ANCHOR = re.compile(r"^(start|end)(?:\s*([+-])\s*(\d+)\s*(year|month|day)s?)?$")


def compile_anchor(spec: Any) -> tuple[str, relativedelta, tuple[int, int] | None]:
    """Parse ``"start - 9 years"`` or ``{of: start, years: -2, month: 10, day: 1}`` once."""
    if isinstance(spec, str):
        match = _ANCHOR.match(spec.strip())
        if not match:
            raise InvalidInput(f"bad time anchor {spec!r}", field="anchor")
        base, sign, amount, unit = match.groups()
        delta = relativedelta()
        if amount:
            count = int(amount) * (-1 if sign == "-" else 1)
            delta = (
                relativedelta(years=count)
                if unit == "year"
                else relativedelta(months=count)
                if unit == "month"
                else relativedelta(days=count)
            )
        return base, delta, None
    if isinstance(spec, dict) and spec.get("of") in ("start", "end"):
        delta = relativedelta(years=int(spec.get("years", 0)))
        fixed = (int(spec["month"]), int(spec["day"])) if "month" in spec else None
        return str(spec["of"]), delta, fixed
    raise InvalidInput(f"bad time anchor {spec!r}", field="anchor")


def resolve_anchor(
    anchor: tuple[str, relativedelta, tuple[int, int] | None], start: datetime, end: datetime
) -> datetime:
    base, delta, fixed = anchor
    moment = (start if base == "start" else end) + delta
    if fixed is not None:
        moment = datetime(moment.year, fixed[0], fixed[1], tzinfo=UTC)
    return moment


def parse_period(text: str) -> tuple[datetime, datetime]:
    """``2025-01-01/2025-12-31`` as the measurement period [start 00:00, end 23:59:59.999] UTC."""
    parts = text.split("/")
    if len(parts) != 2:
        raise InvalidInput("period must look like 2025-01-01/2025-12-31", field="period")
    try:
        first = date.fromisoformat(parts[0].strip())
        last = date.fromisoformat(parts[1].strip())
    except ValueError:
        raise InvalidInput(
            "period must look like 2025-01-01/2025-12-31 (ISO dates)", field="period"
        ) from None
    if last < first:
        raise InvalidInput("period ends before it starts", field="period")
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1) - ONE_MS
    return start, end


def age_in_years(birth: date, on: date) -> int:
    """CQL AgeInYearsAt: whole calendar years between the birth date and ``on``."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


Anchor = tuple[str, relativedelta, tuple[int, int] | None]
WINDOWS_KEPT = 16
"""Measurement periods a timing filter keeps its window for. A night uses one or two; a
worker or server that lives for months meets a new period every day, so the cache is
bounded (it used to grow by one entry a day per timing filter, for the process's life)."""


class Period(Protocol):
    """What a timing window is resolved against (a ``criteria.Context``)."""

    @property
    def start(self) -> datetime: ...
    @property
    def end(self) -> datetime: ...


class TimingWindow:
    """A timing filter's window, resolved once per measurement period: as datetimes for the
    filter, as POSIX seconds for the row tests (``measures.row_tests``). Kept for at most
    :data:`WINDOWS_KEPT` periods: past that, all are dropped and resolved again on use."""

    __slots__ = ("_high", "_high_open", "_low", "_seconds", "_windows")

    def __init__(self, low: Anchor, high: Anchor, *, high_open: bool) -> None:
        self._low = low
        self._high = high
        self._high_open = high_open
        self._windows: dict[tuple[datetime, datetime], tuple[datetime, datetime]] = {}
        self._seconds: dict[tuple[datetime, datetime], tuple[float, float]] = {}

    def __len__(self) -> int:
        """Periods whose window is kept."""
        return len(self._windows)

    def window(self, start: datetime, end: datetime) -> tuple[datetime, datetime]:
        """The window for the period ``start``..``end`` (an open end one millisecond short)."""
        key = (start, end)
        found = self._windows.get(key)
        if found is None:
            if len(self._windows) >= WINDOWS_KEPT:
                self._windows.clear()
                self._seconds.clear()
            low = resolve_anchor(self._low, start, end)
            high = resolve_anchor(self._high, start, end)
            found = self._windows[key] = (low, high - ONE_MS if self._high_open else high)
        return found

    def seconds(self, period: Period) -> tuple[float, float]:
        """:meth:`window` for ``period`` as POSIX seconds."""
        key = (period.start, period.end)
        found = self._seconds.get(key)
        if found is None:
            low, high = self.window(period.start, period.end)
            found = self._seconds[key] = (low.timestamp(), high.timestamp())
        return found
