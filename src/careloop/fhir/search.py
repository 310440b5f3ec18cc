"""FHIR search and read over careloop's data: stored resources, write-back projections and
the check-in Questionnaires, one set of matching rules for all.

Reference parameters (``patient``, ``subject``) are resolved to careloop's patient records
first (a record may hold several source Patient ids), then every other criterion is
matched on the resource itself; the database narrows by id, patient and code before any
JSON is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from careloop.feedback.catalog import default_catalog
from careloop.fhir.match import matches, sort_value, values_at
from careloop.fhir.params import Criterion, ParamType, SearchQuery
from careloop.fhir.sql_search import sql_page
from careloop.fhir.writeback import PROJECTED
from careloop.records.fhir_query import (
    StoredResource,
    patients_with_identifier,
    stored_resource,
    stored_resources,
)
from careloop.records.resources import resolve_patient_reference

STORED_TYPES = frozenset(
    {"Patient", "Observation", "QuestionnaireResponse", "Consent", "Appointment", "MeasureReport"}
    | {"Slot", "Schedule"}
    | {"DocumentReference", "Provenance"}
    | set(PROJECTED)
)
"""Types read from the record (imported or received); the projected ones come from both."""


@dataclass
class SearchResult:
    matches: list[StoredResource]
    total: int
    included: list[StoredResource] = field(default_factory=list)
    loaded: int = 0
    """Resources read from the database to answer (the page alone when SQL did the work)."""

    @property
    def patient_ids(self) -> set[str]:
        return {r.patient_id for r in (*self.matches, *self.included) if r.patient_id}


def _reference_id(value: str, target: str) -> str:
    """``Patient/x``, ``x`` or ``https://base/Patient/x`` → ``Patient/x``."""
    parts = value.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == target:
        return f"{target}/{parts[-1]}"
    return f"{target}/{parts[-1]}"


def _patients_for(session: Session, criterion: Criterion) -> set[str]:
    found: set[str] = set()
    for value in criterion.values:
        owner = resolve_patient_reference(session, _reference_id(value, "Patient"))
        if owner is not None:
            found.add(owner)
    return found


def _is_patient_reference(criterion: Criterion) -> bool:
    """Patient references are resolved to records; other references (``Slot.schedule``)
    are matched on the resource."""
    param = criterion.param
    return param.type is ParamType.REFERENCE and param.target == "Patient"


def _questionnaires() -> list[StoredResource]:
    return [StoredResource(q, None, None) for q in default_catalog().distinct()]


def _narrowing(
    session: Session, query: SearchQuery, allowed: frozenset[str] | None
) -> tuple[set[str] | None, set[str] | None, list[tuple[str | None, str]] | None]:
    """What the database can narrow by: patient records, ids and codes (each a superset)."""
    patients: set[str] | None = set(allowed) if allowed is not None else None
    ids: set[str] | None = None
    codes: list[tuple[str | None, str]] | None = None
    for criterion in query.criteria:
        name = criterion.param.name
        if _is_patient_reference(criterion):
            wanted = _patients_for(session, criterion)
            patients = wanted if patients is None else patients & wanted
        elif name == "_id":
            wanted_ids = set(criterion.values)
            ids = wanted_ids if ids is None else ids & wanted_ids
        elif name == "identifier" and query.resource_type == "Patient":
            holders: set[str] = set()
            for value in criterion.values:
                system, bar, code = value.partition("|")
                holders |= set(
                    patients_with_identifier(
                        session,
                        system=(system or None) if bar else None,
                        value=code if bar else value,
                    )
                )
            patients = holders if patients is None else patients & holders
        elif name == "code" and codes is None:
            codes = [(s or None, c) for s, _, c in (v.rpartition("|") for v in criterion.values)]
    return patients, ids, codes


def candidates(
    session: Session,
    resource_type: str,
    *,
    patients: set[str] | None,
    ids: set[str] | None,
    codes: list[tuple[str | None, str]] | None = None,
) -> list[StoredResource]:
    found: list[StoredResource] = []
    if resource_type == "Questionnaire":
        return _questionnaires()
    if patients is not None and not patients:
        return []
    if resource_type in STORED_TYPES:
        found += stored_resources(
            session,
            resource_type=resource_type,
            fhir_ids=ids,
            patient_ids=patients,
            codes=codes,
        )
    projector = PROJECTED.get(resource_type)
    if projector is not None:
        found += projector(session, sorted(patients) if patients is not None else None)
    return found


def _last_updated(item: StoredResource) -> str | None:
    return item.last_updated.isoformat() if item.last_updated is not None else None


def _exact(page: list[StoredResource], query: SearchQuery) -> bool:
    """The database's page, re-checked by the matching rules (an Observation without
    ``effective[x]`` is indexed by ``issued``: such a page is searched the general way)."""
    return all(
        matches(r.resource, c, last_updated=_last_updated(r))
        for r in page
        for c in query.criteria
        if not _is_patient_reference(c)
    )


def search(
    session: Session,
    query: SearchQuery,
    *,
    allowed_patients: frozenset[str] | None = None,
    in_sql: bool = True,
) -> SearchResult:
    """Run ``query``; ``allowed_patients`` (None for staff) bounds what may be returned.
    ``in_sql=False`` takes the general path (for ``benchmarks/fhir_search.py``)."""
    patients, ids, codes = _narrowing(session, query, allowed_patients)
    paged = sql_page(session, query, patients=patients, ids=ids) if in_sql else None
    if paged is not None and _exact(paged[0], query):
        result = SearchResult(matches=paged[0], total=paged[1], loaded=len(paged[0]))
        for param in query.include:
            result.included += _included(session, paged[0], param.path, allowed_patients)
        return result
    found = candidates(session, query.resource_type, patients=patients, ids=ids, codes=codes)
    loaded = len(found)
    if allowed_patients is not None and query.resource_type != "Questionnaire":
        found = [r for r in found if r.patient_id in allowed_patients]
    for criterion in query.criteria:
        if _is_patient_reference(criterion):
            continue
        found = [r for r in found if matches(r.resource, criterion, last_updated=_last_updated(r))]
    found.sort(key=lambda r: str(r.resource.get("id", "")))
    for key in reversed(query.sort):
        path = key.param.path

        def by_key(item: StoredResource, path: str = path) -> str:
            return sort_value(item.resource, path, last_updated=_last_updated(item))

        found.sort(key=by_key, reverse=key.descending)
    page = found[query.offset : query.offset + query.count]
    result = SearchResult(matches=page, total=len(found), loaded=loaded)
    for param in query.include:
        result.included += _included(session, page, param.path, allowed_patients)
    return result


def _included(
    session: Session, page: list[StoredResource], path: str, allowed: frozenset[str] | None
) -> list[StoredResource]:
    seen: set[str] = set()
    found: list[StoredResource] = []
    for item in page:
        for ref in values_at(item.resource, path):
            target = ref.get("reference") if isinstance(ref, dict) else None
            if not isinstance(target, str) or target in seen or "/" not in target:
                continue
            seen.add(target)
            rtype, _, rid = target.rpartition("/")
            got = read(session, rtype.rsplit("/", 1)[-1], rid)
            if got is not None and (allowed is None or got.patient_id in allowed):
                found.append(got)
    return found


def read(session: Session, resource_type: str, resource_id: str) -> StoredResource | None:
    """The current version of one resource, stored or projected, or None."""
    if resource_type == "Questionnaire":
        return next((q for q in _questionnaires() if q.resource.get("id") == resource_id), None)
    if resource_type in STORED_TYPES:
        stored = stored_resource(session, resource_type=resource_type, fhir_id=resource_id)
        if stored is not None:
            return stored
    projector = PROJECTED.get(resource_type)
    if projector is None:
        return None
    return next((r for r in projector(session, None) if r.resource.get("id") == resource_id), None)
