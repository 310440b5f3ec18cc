"""Generated variations of the official test bundles, for the differential harness.

Each variation changes one thing the measure logic is sensitive to, in the way real records
differ from test decks: a timestamp moved to a period boundary or one millisecond past it,
the same instant written with another UTC offset, another status value, a result value of
another type. The hand-written definitions and the published ELM must agree on every one.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

Bundle = dict[str, Any]
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
STATUSES = ("final", "amended", "preliminary", "cancelled", "entered-in-error", "completed")


def _walk_strings(node: Any, change: Callable[[str, str], str | None]) -> None:
    if isinstance(node, dict):
        for key, value in list(node.items()):
            if isinstance(value, str):
                new = change(key, value)
                if new is not None:
                    node[key] = new
            else:
                _walk_strings(value, change)
    elif isinstance(node, list):
        for item in node:
            _walk_strings(item, change)


def _clinical(bundle: Bundle) -> list[dict[str, Any]]:
    return [
        e["resource"]
        for e in bundle.get("entry", [])
        if e["resource"].get("resourceType") not in ("Patient", "MeasureReport")
    ]


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def with_offset(bundle: Bundle, hours: int) -> Bundle:
    """Every timestamp written as the same instant in another UTC offset."""
    varied = copy.deepcopy(bundle)
    zone = timedelta(hours=hours)

    def change(_key: str, value: str) -> str | None:
        if not STAMP.match(value):
            return None
        local = _instant(value).astimezone(UTC) + zone
        sign = "-" if hours < 0 else "+"
        return local.strftime("%Y-%m-%dT%H:%M:%S.000") + f"{sign}{abs(hours):02d}:00"

    for resource in _clinical(varied):
        _walk_strings(resource, change)
    return varied


def shifted(bundle: Bundle, delta: timedelta) -> Bundle:
    """Every clinical timestamp moved by ``delta`` (dates at and past period boundaries)."""
    varied = copy.deepcopy(bundle)

    def change(_key: str, value: str) -> str | None:
        if not STAMP.match(value):
            return None
        moved = _instant(value).astimezone(UTC) + delta
        return moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"

    for resource in _clinical(varied):
        _walk_strings(resource, change)
    return varied


def with_status(bundle: Bundle, status: str) -> Bundle:
    varied = copy.deepcopy(bundle)
    for resource in _clinical(varied):
        if resource.get("resourceType") in ("Observation", "Procedure") and "status" in resource:
            resource["status"] = status
    return varied


def value_as_string(bundle: Bundle) -> Bundle:
    """Observation results of another type: a Quantity or code written as a string."""
    varied = copy.deepcopy(bundle)
    for resource in _clinical(varied):
        for key in [k for k in resource if k.startswith("value")]:
            resource["valueString"] = "see report"
            del resource[key]
    return varied


def variations(bundle: Bundle) -> Iterator[tuple[str, Bundle]]:
    yield "offset-05", with_offset(bundle, -5)
    yield "offset+09", with_offset(bundle, 9)
    yield "minus-1ms", shifted(bundle, -timedelta(milliseconds=1))
    yield "plus-1day", shifted(bundle, timedelta(days=1))
    yield "minus-1day", shifted(bundle, -timedelta(days=1))
    for status in STATUSES:
        yield f"status-{status}", with_status(bundle, status)
    yield "value-string", value_as_string(bundle)
