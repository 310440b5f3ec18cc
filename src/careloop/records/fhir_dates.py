"""FHIR date, dateTime and instant values as UTC datetimes, partial dates included.

A partial date ("2019" or "2019-05") stands for an interval; :func:`parse_fhir_interval`
returns its start and end so range queries stay correct.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta


def parse_fhir_interval(value: str) -> tuple[datetime, datetime]:
    """The [start, end] of a FHIR date/dateTime/instant, in UTC.

    Date-only values are taken in UTC (FHIR leaves their zone to the context).
    Raises ValueError for anything that is not a FHIR date.
    """
    if not isinstance(value, str) or not value:
        raise ValueError("not a FHIR date")
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
        # FHIR requires a zone when a time is given; be lenient and read it as UTC.
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment, moment


def parse_fhir_datetime(value: str) -> datetime:
    """The start of a FHIR date/dateTime value, in UTC."""
    return parse_fhir_interval(value)[0]


def parse_fhir_date(value: str) -> date:
    if not isinstance(value, str) or len(value) < 4:
        raise ValueError("not a FHIR date")
    if len(value) == 4:
        return date(int(value), 1, 1)
    if len(value) == 7:
        return date(int(value[:4]), int(value[5:7]), 1)
    return date.fromisoformat(value[:10])
