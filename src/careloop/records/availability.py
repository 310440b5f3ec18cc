"""When a caregiver can be reached: weekly windows in local time.

Stored as ``[{"days": ["mon", ...], "start": "15:00", "end": "21:00"}]``. Imported from our
FHIR extension (shaped like ``PractitionerRole.availableTime``) or set through the API/CLI:
"works until 15:00 on weekdays" is ``mon-fri 15:00-21:00`` plus the weekend.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from careloop.errors import InvalidInput

AVAILABILITY_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/availability"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _parse_time(value: str, *, field: str) -> time:
    try:
        parsed = time.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{value!r} is not a time like 15:00", field=field) from exc
    return parsed


def _expand_days(spec: str) -> list[str]:
    days: list[str] = []
    for part in spec.lower().split(","):
        part = part.strip()
        if "-" in part:
            first, last = (p.strip()[:3] for p in part.split("-", 1))
            if first not in DAYS or last not in DAYS:
                raise InvalidInput(f"unknown day range {part!r}", field="days")
            i, j = DAYS.index(first), DAYS.index(last)
            days.extend(DAYS[i : j + 1] if i <= j else DAYS[i:] + DAYS[: j + 1])
        elif part[:3] in DAYS:
            days.append(part[:3])
        elif part == "weekdays":
            days.extend(DAYS[:5])
        elif part == "weekends":
            days.extend(DAYS[5:])
        else:
            raise InvalidInput(f"unknown day {part!r}", field="days")
    return list(dict.fromkeys(days))


def parse_window(spec: str) -> dict[str, Any]:
    """``"mon-fri 15:00-21:00"`` → a window dict; raises InvalidInput naming the problem."""
    try:
        days_part, hours = spec.strip().rsplit(" ", 1)
        start_s, end_s = hours.split("-", 1)
    except ValueError as exc:
        raise InvalidInput(
            f"{spec!r} is not a window like 'mon-fri 15:00-21:00'", field="window"
        ) from exc
    return make_window(_expand_days(days_part), start_s, end_s)


def make_window(days: list[str], start: str, end: str) -> dict[str, Any]:
    start_t = _parse_time(start, field="start")
    end_t = _parse_time(end, field="end")
    if end_t <= start_t:
        raise InvalidInput("a window must end after it starts", field="end")
    bad = [d for d in days if d not in DAYS]
    if bad or not days:
        raise InvalidInput(f"days must be among {', '.join(DAYS)}", field="days")
    return {"days": list(days), "start": start_t.strftime("%H:%M"), "end": end_t.strftime("%H:%M")}


def from_extension(resource: dict[str, Any]) -> list[dict[str, Any]]:
    """Windows from the availability extension of a RelatedPerson (invalid ones ignored)."""
    windows = []
    for ext in resource.get("extension") or []:
        if not isinstance(ext, dict) or ext.get("url") != AVAILABILITY_EXTENSION:
            continue
        subs = ext.get("extension") or []
        days = [s.get("valueCode") for s in subs if s.get("url") == "daysOfWeek"]
        start = next(
            (s.get("valueTime") for s in subs if s.get("url") == "availableStartTime"), None
        )
        end = next((s.get("valueTime") for s in subs if s.get("url") == "availableEndTime"), None)
        all_day = any(s.get("url") == "allDay" and s.get("valueBoolean") for s in subs)
        if all_day:
            start, end = "00:00", "23:59"
        try:
            windows.append(make_window([str(d) for d in days], str(start), str(end)))
        except InvalidInput:
            continue
    return windows


def is_available(windows: list[dict[str, Any]], local: datetime) -> bool:
    """True when ``local`` (a time in the caregiver's zone) falls inside a window.

    No windows recorded means no restriction is known.
    """
    if not windows:
        return True
    day = DAYS[local.weekday()]
    now = local.time()
    return any(
        day in w["days"] and time.fromisoformat(w["start"]) <= now < time.fromisoformat(w["end"])
        for w in windows
    )


def describe(windows: list[dict[str, Any]]) -> str:
    """A sentence a nurse can read: "mon-fri 15:00-21:00; sat-sun 09:00-20:00"."""
    if not windows:
        return "no restriction recorded"
    parts = []
    for w in windows:
        days = w["days"]
        idx = [DAYS.index(d) for d in days]
        if len(idx) >= 2 and idx == list(range(idx[0], idx[0] + len(idx))):
            label = f"{days[0]}-{days[-1]}"
        else:
            label = ",".join(days)
        parts.append(f"{label} {w['start']}-{w['end']}")
    return "; ".join(parts)
