"""Times on incoming resources: a zone is required and the future is refused.

A reading or answer dated in the future is a device clock or a client bug; accepting it
would hide the patient's real latest value, so it is refused with a reason. A small skew
is tolerated because device clocks drift.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from careloop.errors import InvalidInput

CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=90)


def parse_instant(value: object, *, field: str, space_for_t: bool = False) -> datetime:
    """An aware UTC datetime from a FHIR dateTime with a time and a zone. ``space_for_t``:
    a person at a command line may type ``2031-03-01 09:00+02:00``; FHIR never may."""
    if not isinstance(value, str) or ("T" not in value and not space_for_t):
        raise InvalidInput(f"{field}: a date-time with a time zone is required", field=field)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: not a valid date-time", field=field) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{field}: a time zone is required", field=field)
    return moment.astimezone(UTC)


def check_not_future(moment: datetime, *, now: datetime, field: str) -> None:
    if moment > now + CLOCK_SKEW:
        raise InvalidInput(f"{field}: in the future (beyond the allowed clock skew)", field=field)
    if moment < now - MAX_AGE:
        raise InvalidInput(f"{field}: older than {MAX_AGE.days} days", field=field)
