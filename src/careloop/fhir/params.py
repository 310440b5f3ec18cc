"""The search parameters careloop supports, per resource type, and how a query is parsed.

One table (:data:`SEARCH_PARAMS`, read from ``data/search_params.json``) drives both the
search and the CapabilityStatement, so the statement lists exactly what a search accepts. A
parameter, modifier or prefix that is not in the table is refused with the parameter named
(``Prefer: handling=strict`` is the only handling careloop offers): silently ignoring a filter
would return more than asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from importlib import resources

from careloop.errors import InvalidInput
from careloop.fhirdata.dates import interval


class ParamType(StrEnum):
    TOKEN = "token"  # noqa: S105 - the FHIR search parameter type, not a secret
    REFERENCE = "reference"
    DATE = "date"
    STRING = "string"
    URI = "uri"


@dataclass(frozen=True)
class SearchParam:
    """``path`` is a dotted element path; ``x[x]`` is a choice element (``effective[x]``)."""

    name: str
    type: ParamType
    path: str
    documentation: str
    target: str | None = None  # the referenced type, for reference parameters


def _load() -> tuple[dict[str, tuple[SearchParam, ...]], tuple[SearchParam, ...]]:
    """Read the table from ``data/search_params.json`` (packaged; a data file, not code)."""
    text = (resources.files("careloop.fhir") / "data" / "search_params.json").read_text("utf-8")
    table = json.loads(text)

    def rows(items: list[dict[str, str]]) -> tuple[SearchParam, ...]:
        return tuple(
            SearchParam(i["name"], ParamType(i["type"]), i["path"], i["doc"], i.get("target"))
            for i in items
        )

    searchable = {kind: rows(items) for kind, items in table["resources"].items()}
    return searchable, rows(table["common"])


SEARCH_PARAMS, COMMON_PARAMS = _load()
"""Per resource type, and the parameters every type shares (``_id``, ``_lastUpdated``)."""
RESULT_PARAMS = ("_count", "_offset", "_sort", "_include", "_format")
JSON_FORMATS = frozenset(
    {"json", "application/json", "application/fhir+json", "application/json+fhir", "text/json"}
)
"""What ``_format`` (or a media type) may name: careloop serves FHIR in JSON only."""
DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")
MODIFIERS: dict[ParamType, frozenset[str]] = {
    ParamType.STRING: frozenset({"exact", "contains"}),
    ParamType.TOKEN: frozenset(),
    ParamType.REFERENCE: frozenset(),
    ParamType.DATE: frozenset(),
    ParamType.URI: frozenset(),
}
DEFAULT_COUNT = 50
MAX_COUNT = 1000


def params_of(resource_type: str) -> dict[str, SearchParam]:
    return {p.name: p for p in (*COMMON_PARAMS, *SEARCH_PARAMS.get(resource_type, ()))}


@dataclass(frozen=True)
class Criterion:
    """One ``name[:modifier]=a,b`` pair: any of ``values`` matches (repeated names AND)."""

    param: SearchParam
    modifier: str | None
    values: tuple[str, ...]


@dataclass(frozen=True)
class SortKey:
    param: SearchParam
    descending: bool


@dataclass(frozen=True)
class SearchQuery:
    resource_type: str
    criteria: tuple[Criterion, ...] = ()
    count: int = DEFAULT_COUNT
    offset: int = 0
    sort: tuple[SortKey, ...] = ()
    include: tuple[SearchParam, ...] = ()
    raw: tuple[tuple[str, str], ...] = field(default=())


def _int(name: str, value: str, *, low: int, high: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise InvalidInput(f"{name}: not an integer", field=name) from None
    if not low <= number <= high:
        raise InvalidInput(f"{name}: must be between {low} and {high}", field=name)
    return number


def _sort(resource_type: str, value: str, known: dict[str, SearchParam]) -> tuple[SortKey, ...]:
    keys = []
    for part in value.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.removeprefix("-")
        param = known.get(name)
        if param is None or param.type not in (ParamType.DATE, ParamType.TOKEN, ParamType.URI):
            raise InvalidInput(f"_sort: cannot sort {resource_type} by {name!r}", field="_sort")
        keys.append(SortKey(param, descending))
    return tuple(keys)


def _include(resource_type: str, value: str, known: dict[str, SearchParam]) -> SearchParam:
    source, _, name = value.partition(":")
    param = known.get(name.split(":")[0])
    if source != resource_type or param is None or param.type is not ParamType.REFERENCE:
        raise InvalidInput(f"_include: {resource_type} cannot include {value!r}", field="_include")
    return param


def date_search(wanted: str, *, field: str) -> tuple[str, datetime, datetime]:
    """A date search value as (prefix, low, high): ``ge2024-01`` → ("ge", 2024-01-01, end of
    January). The one reading of the query's check, the in-memory match and the SQL search;
    a value that is no date says so ("notadate" is not a date, not the prefix "no"). The
    value is not echoed: a birth date is PHI."""
    prefix, text = (wanted[:2], wanted[2:]) if wanted[:2].isalpha() else ("eq", wanted)
    try:
        low, high = interval(text)
    except (ValueError, TypeError):
        raise InvalidInput(
            f"{field}: not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime, after an "
            f"optional prefix: {', '.join(DATE_PREFIXES)})",
            field=field,
        ) from None
    return prefix, low, high


def _referenced_type(key: str, param: SearchParam, values: tuple[str, ...]) -> None:
    """A typed reference (``Group/x``, ``https://base/Group/x``) must name the type the
    parameter points at: ``Observation?subject=Group/x`` is a question careloop cannot
    answer, not one whose answer is empty (nor ``Patient/x``'s)."""
    if param.target in (None, "Any"):
        return
    for value in values:
        parts = value.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] != param.target:
            raise InvalidInput(
                f"{key}: must reference a {param.target}, not a {parts[-2][:64]}", field=key
            )


def parse_query(resource_type: str, items: list[tuple[str, str]]) -> SearchQuery:
    """Parse a query string's pairs into a :class:`SearchQuery`; unknown names are refused."""
    if resource_type not in SEARCH_PARAMS:
        raise InvalidInput(f"{resource_type} is not searchable here", field="type")
    known = params_of(resource_type)
    criteria: list[Criterion] = []
    count, offset = DEFAULT_COUNT, 0
    sort: tuple[SortKey, ...] = ()
    include: list[SearchParam] = []
    for key, value in items:
        if key == "_count":
            count = _int(key, value, low=0, high=MAX_COUNT)
        elif key == "_offset":
            offset = _int(key, value, low=0, high=10**9)
        elif key == "_sort":
            sort = _sort(resource_type, value, known)
        elif key == "_include":
            include.append(_include(resource_type, value, known))
        elif key == "_format":
            if value.replace(" ", "+").lower() not in JSON_FORMATS:
                raise InvalidInput("_format: only json is served", field="_format")
        else:
            name, _, modifier = key.partition(":")
            param = known.get(name)
            if param is None:
                raise InvalidInput(f"{key}: not a search parameter of {resource_type}", field=key)
            if modifier and modifier not in MODIFIERS[param.type]:
                raise InvalidInput(f"{key}: modifier not supported", field=key)
            values = tuple(v for v in value.split(",") if v)
            if not values:
                raise InvalidInput(f"{key}: a value is required", field=key)
            if param.type is ParamType.REFERENCE:
                _referenced_type(key, param, values)
            if param.type is ParamType.DATE:
                for v in values:
                    prefix, _, _ = date_search(v, field=key)
                    if prefix not in DATE_PREFIXES:
                        raise InvalidInput(f"{key}: prefix {prefix!r} not supported", field=key)
            criteria.append(Criterion(param, modifier or None, values))
    return SearchQuery(
        resource_type=resource_type,
        criteria=tuple(criteria),
        count=count,
        offset=offset,
        sort=sort,
        include=tuple(include),
        raw=tuple(items),
    )
