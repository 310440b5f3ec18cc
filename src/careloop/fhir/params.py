"""The search parameters careloop supports, per resource type, and how a query is parsed.

One table (:data:`SEARCH_PARAMS`) drives both the search and the CapabilityStatement, so
the statement lists exactly what a search accepts. A parameter, modifier or prefix that is
not in the table is refused with the parameter named (``Prefer: handling=strict`` is the
only handling careloop offers): silently ignoring a filter would return more than asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from careloop.errors import InvalidInput


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


def _p(name: str, kind: ParamType, path: str, doc: str, target: str | None = None) -> SearchParam:
    return SearchParam(name, kind, path, doc, target)


_T, _R, _D, _S, _U = (
    ParamType.TOKEN,
    ParamType.REFERENCE,
    ParamType.DATE,
    ParamType.STRING,
    ParamType.URI,
)
PATIENT_OF = "the patient the resource is about (Patient/id or id)"


def _about(path: str) -> tuple[SearchParam, ...]:
    return (
        _p("patient", _R, path, PATIENT_OF, "Patient"),
        _p("subject", _R, path, PATIENT_OF, "Patient"),
    )


SEARCH_PARAMS: dict[str, tuple[SearchParam, ...]] = {
    "Patient": (
        _p("identifier", _T, "identifier", "a business identifier (system|value)"),
        _p("name", _S, "name", "starts a family, given or text name (case-insensitive)"),
        _p("birthdate", _D, "birthDate", "date of birth"),
        _p("telecom", _T, "telecom", "a phone number or email address"),
        _p("gender", _T, "gender", "administrative gender"),
    ),
    "Observation": (
        *_about("subject"),
        _p("code", _T, "code", "the observation's code (system|code)"),
        _p("date", _D, "effective[x]", "when the observation was made"),
        _p("category", _T, "category", "e.g. vital-signs, laboratory, survey"),
        _p("status", _T, "status", "final, amended, preliminary..."),
        _p("identifier", _T, "identifier", "a business identifier, e.g. a device's reading id"),
    ),
    "QuestionnaireResponse": (
        *_about("subject"),
        _p("questionnaire", _U, "questionnaire", "the Questionnaire's canonical url"),
        _p("authored", _D, "authored", "when the answers were given"),
        _p("status", _T, "status", "completed, in-progress..."),
    ),
    "Questionnaire": (
        _p("url", _U, "url", "the canonical url"),
        _p("status", _T, "status", "active, draft..."),
    ),
    "Consent": (
        _p("patient", _R, "patient", PATIENT_OF, "Patient"),
        _p("status", _T, "status", "active, inactive..."),
        _p("category", _T, "category", "the kind of consent"),
        _p("date", _D, "dateTime", "when the consent was given"),
    ),
    "DocumentReference": (
        *_about("subject"),
        _p("status", _T, "status", "current, superseded..."),
        _p("type", _T, "type", "the kind of document (a signed form's kind)"),
        _p("date", _D, "date", "when the document was made (signed)"),
    ),
    "Provenance": (
        _p("patient", _R, "agent.who", PATIENT_OF, "Patient"),
        _p("target", _R, "target", "what the provenance is about", "Any"),
        _p("recorded", _D, "recorded", "when it was recorded (signed)"),
    ),
    "Communication": (
        *_about("subject"),
        _p("sent", _D, "sent", "when the message was sent or received"),
        _p("status", _T, "status", "completed, in-progress..."),
        _p("category", _T, "category", "outreach, reply"),
    ),
    "Flag": (
        *_about("subject"),
        _p("date", _D, "period", "when the alert was raised (to when it was resolved)"),
        _p("status", _T, "status", "active or inactive"),
        _p("code", _T, "code", "the rule that raised the alert"),
    ),
    "Task": (
        _p("patient", _R, "for", PATIENT_OF, "Patient"),
        _p("subject", _R, "for", PATIENT_OF, "Patient"),
        _p("status", _T, "status", "requested, in-progress, completed..."),
        _p("code", _T, "code", "the kind of work"),
        _p("authored-on", _D, "authoredOn", "when the task was created"),
    ),
    "CarePlan": (
        *_about("subject"),
        _p("status", _T, "status", "active, revoked, draft..."),
        _p("date", _D, "period", "the period the plan covers"),
    ),
    "Appointment": (
        _p("patient", _R, "participant.actor", PATIENT_OF, "Patient"),
        _p("date", _D, "start", "when the appointment starts"),
        _p("status", _T, "status", "booked, fulfilled, noshow..."),
    ),
    "Slot": (
        _p("schedule", _R, "schedule", "the Schedule the slot belongs to", "Schedule"),
        _p("status", _T, "status", "free, busy..."),
        _p("start", _D, "start", "when the slot starts"),
        _p("service-type", _T, "serviceType", "the service that can be booked"),
    ),
    "Schedule": (
        _p("actor", _R, "actor", "the practitioner, location or service", "Any"),
        _p("active", _T, "active", "true or false"),
        _p("date", _D, "planningHorizon", "the period the schedule covers"),
        _p("service-type", _T, "serviceType", "the services offered"),
    ),
    "MeasureReport": (
        *_about("subject"),
        _p("measure", _U, "measure", "the measure's canonical url"),
        _p("period", _D, "period", "the measurement period"),
        _p("status", _T, "status", "complete, pending, error"),
    ),
}

COMMON_PARAMS = (
    _p("_id", _T, "id", "the logical id"),
    _p("_lastUpdated", _D, "meta.lastUpdated", "when careloop last changed the resource"),
)
RESULT_PARAMS = ("_count", "_offset", "_sort", "_include", "_format")
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
            if value not in ("json", "application/fhir+json", "application/json"):
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
            if param.type is ParamType.DATE:
                for v in values:
                    if v[:2].isalpha() and v[:2] not in DATE_PREFIXES:
                        raise InvalidInput(f"{key}: prefix {v[:2]!r} not supported", field=key)
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
