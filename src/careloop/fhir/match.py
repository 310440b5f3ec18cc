"""Does a resource match a search criterion? Token, date, string and uri matching per R4.

Pure functions over resource dicts, so stored resources and the ones careloop projects
from what it learned are searched by the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from careloop.fhir.params import Criterion, ParamType, date_search
from careloop.fhirdata.dates import interval as parse_fhir_interval


def values_at(resource: dict[str, Any], path: str) -> list[Any]:
    """The values at a dotted path, lists flattened; ``x[x]`` picks the choice present."""
    nodes: list[Any] = [resource]
    for step in path.split("."):
        found: list[Any] = []
        for node in nodes:
            if not isinstance(node, dict):
                continue
            if step.endswith("[x]"):
                stem = step[:-3]
                found.extend(v for k, v in node.items() if k.startswith(stem) and k != stem)
            elif step in node:
                found.append(node[step])
        nodes = [v for item in found for v in (item if isinstance(item, list) else [item])]
    return nodes


def _codings(value: Any) -> Iterator[tuple[str | None, str | None]]:
    if isinstance(value, str):
        yield None, value
    elif isinstance(value, dict):
        if "coding" in value:
            for coding in value.get("coding") or []:
                if isinstance(coding, dict):
                    yield coding.get("system"), coding.get("code")
        elif "value" in value:  # Identifier, ContactPoint
            yield value.get("system"), value.get("value")
        elif "code" in value:  # Coding
            yield value.get("system"), value.get("code")


def _token_matches(wanted: str, value: Any, *, contact: bool) -> bool:
    system, bar, code = wanted.partition("|")
    if not bar:
        system, code = "", wanted
    for have_system, have_code in _codings(value):
        if contact:  # telecom: the value is compared, whatever its system (phone, email)
            if have_code is not None and have_code.lower() == code.lower():
                return True
            continue
        if bar and system and have_system != system:
            continue
        if bar and not system and have_system:
            continue
        if code and have_code != code:
            continue
        return True
    return False


def _interval(value: Any) -> tuple[datetime | None, datetime | None] | None:
    """[start, end] of a date, dateTime, instant or Period; None ends are open."""
    try:
        if isinstance(value, str):
            return parse_fhir_interval(value)
        if isinstance(value, dict) and (value.get("start") or value.get("end")):
            start = parse_fhir_interval(value["start"])[0] if value.get("start") else None
            end = parse_fhir_interval(value["end"])[1] if value.get("end") else None
            return start, end
    except (ValueError, TypeError):
        return None
    return None


def _date_matches(wanted: str, value: Any, *, field: str) -> bool:
    prefix, low, high = date_search(wanted, field=field)
    have = _interval(value)
    if have is None:
        return False
    start, end = have
    within = start is not None and end is not None and low <= start and end <= high
    if prefix == "eq":
        return within
    if prefix == "ne":
        return not within
    if prefix == "gt":
        return end is None or end > high
    if prefix == "ge":
        return end is None or end >= low
    if prefix == "lt":
        return start is None or start < low
    return start is None or start <= high  # le


def _names(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for part in ("family", "text"):
            if isinstance(value.get(part), str):
                yield value[part]
        for given in value.get("given") or []:
            if isinstance(given, str):
                yield given
    elif isinstance(value, str):
        yield value


def _string_matches(wanted: str, value: Any, modifier: str | None) -> bool:
    for name in _names(value):
        if modifier == "exact" and name == wanted:
            return True
        if modifier == "contains" and wanted.lower() in name.lower():
            return True
        if modifier is None and name.lower().startswith(wanted.lower()):
            return True
    return False


def _reference_matches(wanted: str, value: Any) -> bool:
    """``Schedule/s1``, ``s1`` or an absolute URL against a Reference's ``reference``."""
    ref = value.get("reference") if isinstance(value, dict) else None
    if not isinstance(ref, str):
        return False
    have = ref.rstrip("/").split("/")[-2:]
    want = wanted.rstrip("/").split("/")[-2:]
    return have[-1] == want[-1] and (len(want) < 2 or len(have) < 2 or have[0] == want[0])


def matches(resource: dict[str, Any], criterion: Criterion, *, last_updated: Any = None) -> bool:
    """True when any of the criterion's values matches (Patient references are resolved by
    the search to patient records and never reach here)."""
    param = criterion.param
    values = [last_updated] if param.name == "_lastUpdated" else values_at(resource, param.path)
    field = param.name
    for wanted in criterion.values:
        for value in values:
            if param.type is ParamType.TOKEN and _token_matches(
                wanted, value, contact=param.name == "telecom"
            ):
                return True
            if param.type is ParamType.DATE and _date_matches(wanted, value, field=field):
                return True
            if param.type is ParamType.STRING and _string_matches(
                wanted, value, criterion.modifier
            ):
                return True
            if param.type is ParamType.REFERENCE and _reference_matches(wanted, value):
                return True
            if (
                param.type is ParamType.URI
                and isinstance(value, str)
                and wanted in (value, value.split("|")[0])
            ):
                return True
    return False


def sort_value(resource: dict[str, Any], path: str, *, last_updated: Any = None) -> str:
    """A string that orders like the element (ISO dates order as text)."""
    if path == "meta.lastUpdated":
        return str(last_updated or "")
    for value in values_at(resource, path):
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            for key in ("start", "code", "value"):
                if isinstance(value.get(key), str):
                    return str(value[key])
            for _system, code in _codings(value):
                return code or ""
    return ""
