"""FHIR date, dateTime and instant values as UTC datetimes, partial dates included.

One rule for the whole code base: a partial date ("2019", "2019-05") or a date stands for an
interval and is read in UTC (FHIR leaves a date's zone to the context); a time without a zone
is read as UTC (FHIR requires one; being lenient keeps old exports readable). Check-in and
reading *inputs* are stricter on purpose (``feedback.timestamps``): a patient's answer must
carry its zone.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta


def interval(value: str) -> tuple[datetime, datetime]:
    """The [start, end] of a FHIR date/dateTime/instant, in UTC; ValueError if not one."""
    if not isinstance(value, str) or not value:
        raise ValueError("not a FHIR date")
    value = value.strip()
    if len(value) == 4:
        year = int(value)
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year, 12, 31, 23, 59, 59, tzinfo=UTC)
    if len(value) == 7:
        year, month = int(value[:4]), int(value[5:7])
        last = calendar.monthrange(year, month)[1]
        return (
            datetime(year, month, 1, tzinfo=UTC),
            datetime(year, month, last, 23, 59, 59, tzinfo=UTC),
        )
    if len(value) == 10:
        day = date.fromisoformat(value)
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start, start + timedelta(days=1) - timedelta(seconds=1)
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment, moment


def start(value: str) -> datetime:
    """The start of a FHIR date/dateTime/instant, in UTC; ValueError if not one."""
    return interval(value)[0]


def day(value: str) -> date:
    """The (first) calendar day of a FHIR date or dateTime; ValueError if not one."""
    if not isinstance(value, str) or len(value) < 4:
        raise ValueError("not a FHIR date")
    if len(value) == 4:
        return date(int(value), 1, 1)
    if len(value) == 7:
        return date(int(value[:4]), int(value[5:7]), 1)
    return date.fromisoformat(value[:10])


def zoned(value: object) -> datetime | None:
    """A dateTime that carries its zone, as written; None for anything else (missing,
    malformed, a bare date, no zone). For a moment that must not be guessed, such as a visit's
    start or a ride's pickup, where :func:`instant` would read a date as its midnight UTC."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def instant(value: object) -> datetime | None:
    """The start of a FHIR date-like value, or None for anything missing or malformed.

    For readers that skip a resource with a bad field instead of refusing it.
    """
    if not isinstance(value, str):
        return None
    try:
        return start(value)
    except ValueError:
        return None


def age_on(birth: date, day: date) -> int:
    """Whole years from ``birth`` to ``day``: the birthday itself counts, the day before not."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
