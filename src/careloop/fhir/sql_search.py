"""Search in SQL: the count, the order and the page of a search over stored resources are
computed by the database, which returns only the page's rows.

Used when every criterion of a query maps onto an indexed column of ``fhir_resources`` (its
codes through ``records.code_filter``): ``_id``, the patient references (resolved to records first),
``_lastUpdated`` (when careloop stored it), ``status``, ``code`` with a system, and the
date parameter of the type's indexed time (``effective``/``authored``/``start``/
``dateTime``), matched with the same interval rules as ``fhir.match``. Anything else (a
name, a telecom, a projected type) takes the general path in ``fhir.search``, which
narrows in SQL and filters the rest in Python.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, func, not_, or_, select
from sqlalchemy.orm import Session

from careloop.fhir.params import Criterion, ParamType, SearchQuery, date_search
from careloop.models import FhirResource
from careloop.records.code_filter import carries_token
from careloop.records.fhir_query import StoredResource

SQL_TYPES = frozenset(
    {"Patient", "Observation", "QuestionnaireResponse", "Consent", "Appointment", "Slot"}
)
"""Stored types with no write-back projection (those are built from other rows)."""
INDEXED_TIME = {
    "Observation": "date",
    "QuestionnaireResponse": "authored",
    "Consent": "date",
    "Appointment": "date",
}
"""The date parameter stored as ``effective_start``/``effective_end`` for each type (an
Observation without ``effective[x]`` is indexed by ``issued``; the page is re-checked)."""
STATUS_TYPES = frozenset({"Observation", "QuestionnaireResponse", "Consent", "Appointment", "Slot"})


def _date_clause(wanted: str, field: str, start: Any, end: Any) -> ColumnElement[bool]:
    """``fhir.match._date_matches`` over the [start, end] columns."""
    prefix, low, high = date_search(wanted, field=field)
    has = or_(start.is_not(None), end.is_not(None))
    within = and_(start.is_not(None), end.is_not(None), start >= low, end <= high)
    clauses: dict[str, ColumnElement[bool]] = {
        "eq": within,
        "ne": and_(has, not_(within)),
        "gt": and_(has, or_(end.is_(None), end > high)),
        "ge": and_(has, or_(end.is_(None), end >= low)),
        "lt": and_(has, or_(start.is_(None), start < low)),
        "le": and_(has, or_(start.is_(None), start <= high)),
    }
    return clauses[prefix]


def _criterion_clause(rtype: str, criterion: Criterion, dialect: str) -> ColumnElement[bool] | None:
    """The SQL for one criterion, or None when it cannot be said in SQL exactly."""
    param, values = criterion.param, criterion.values
    if criterion.modifier:
        return None
    if param.name == "_id":
        return FhirResource.fhir_id.in_(values)
    if param.name == "_lastUpdated":
        at = FhirResource.imported_at
        return or_(*(_date_clause(v, param.name, at, at) for v in values))
    if param.name == "status" and rtype in STATUS_TYPES and all("|" not in v for v in values):
        return FhirResource.status.in_(values)
    if param.name == "code" and rtype == "Observation":
        pairs = [v.partition("|") for v in values]
        if not all(bar and system for system, bar, _code in pairs):
            return None
        return carries_token(dialect, [(system, code) for system, _b, code in pairs])
    if param.type is ParamType.DATE and INDEXED_TIME.get(rtype) == param.name:
        start, end = FhirResource.effective_start, FhirResource.effective_end
        clause = or_(*(_date_clause(v, param.name, start, end) for v in values))
        if rtype == "Appointment":  # one with an end and no start has no `date`
            clause = and_(start.is_not(None), clause)
        return clause
    return None


_SORT_COLUMNS: dict[str, Any] = {
    "_id": FhirResource.fhir_id,
    "_lastUpdated": FhirResource.imported_at,
    "status": FhirResource.status,
}


def _order(query: SearchQuery) -> list[Any] | None:
    order: list[Any] = []
    for key in query.sort:
        name = key.param.name
        column = _SORT_COLUMNS.get(name)
        if column is None and INDEXED_TIME.get(query.resource_type) == name:
            column = FhirResource.effective_start
        if column is None or (name == "status" and query.resource_type not in STATUS_TYPES):
            return None
        # Python orders a missing value as "" (first); so does the database, told so.
        order.append(column.desc().nulls_last() if key.descending else column.asc().nulls_first())
    return [*order, FhirResource.fhir_id]


def sql_page(
    session: Session,
    query: SearchQuery,
    *,
    patients: set[str] | None,
    ids: set[str] | None,
) -> tuple[list[StoredResource], int] | None:
    """The page and the total, counted and paged by the database; None when the query
    needs the general path."""
    rtype = query.resource_type
    if rtype not in SQL_TYPES:
        return None
    if patients is not None and not patients:
        return [], 0
    clauses: list[ColumnElement[bool]] = [FhirResource.resource_type == rtype]
    if patients is not None:
        clauses.append(FhirResource.patient_id.in_(sorted(patients)))
    if ids is not None:
        clauses.append(FhirResource.fhir_id.in_(sorted(ids)))
    for criterion in query.criteria:
        if criterion.param.type is ParamType.REFERENCE and criterion.param.target == "Patient":
            continue  # resolved into ``patients``
        if criterion.param.name == "identifier" and rtype == "Patient":
            continue  # resolved into ``patients``
        clause = _criterion_clause(rtype, criterion, session.get_bind().dialect.name)
        if clause is None:
            return None
        clauses.append(clause)
    order = _order(query)
    if order is None:
        return None
    total = session.scalar(select(func.count()).select_from(FhirResource).where(*clauses)) or 0
    rows = session.execute(
        select(FhirResource.resource, FhirResource.patient_id, FhirResource.imported_at)
        .where(*clauses)
        .order_by(*order)
        .offset(query.offset)
        .limit(query.count)
    ).all()
    return [StoredResource(r[0], r[1], r[2]) for r in rows], int(total)
