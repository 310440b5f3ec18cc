"""Reporting periods written ``START/END`` (ISO dates, both days included)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from careloop.errors import InvalidInput


def parse_period(text: str, *, field: str = "period") -> tuple[datetime, datetime]:
    """``"2025-01-01/2025-12-31"`` → [2025-01-01T00:00Z, 2026-01-01T00:00Z)."""
    try:
        first, last = (date.fromisoformat(part.strip()) for part in text.split("/", 1))
    except ValueError as exc:
        raise InvalidInput(
            f"{text!r} is not a period like 2025-01-01/2025-12-31", field=field
        ) from exc
    if last < first:
        raise InvalidInput("the period ends before it starts", field=field)
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    return start, end
