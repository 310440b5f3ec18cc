"""Single resources in and out of the record, for domains that receive FHIR one at a time.

The feedback domain (device readings, check-in answers) writes here instead of through the
file importer: the same validation (``extract.index_resource``), the same indexed columns
and code rows, but for a handful of resources inside the caller's transaction. Only clinical
resources about an existing patient are accepted; Patient resources still come through
``careloop import``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.clock import Clock
from careloop.errors import InvalidInput
from careloop.models import FhirResource
from careloop.records.extract import ResourceProblem, index_resource
from careloop.records.identity import PatientIndex
from careloop.records.store import write_resources
from careloop.security.principal import Principal

_Row = TypeVar("_Row", bound=tuple[Any, ...])


def store_resources(
    session: Session,
    resources: Sequence[dict[str, Any]],
    *,
    clock: Clock,
    principal: Principal,
    source: str = "api",
    purpose: Purpose | str = Purpose.TREATMENT,
) -> list[str]:
    """Validate, index and upsert ``resources``; return the patient id of each, in order.

    Raises :class:`InvalidInput` naming the field when a resource is invalid or its subject
    is not a known patient; nothing is written then. Services flush, the caller commits.
    """
    indexed = []
    for resource in resources:
        if resource.get("resourceType") == "Patient":
            raise InvalidInput(
                "Patient resources are imported, not stored here", field="resourceType"
            )
        try:
            indexed.append(index_resource(resource))
        except ResourceProblem as exc:
            field = str(exc).split(":", 1)[0]
            raise InvalidInput(f"{resource.get('resourceType')}.{exc}", field=field) from None
    refs = PatientIndex().resolve(session, {r.patient_ref for r in indexed if r.patient_ref})
    owners: list[str] = []
    for res in indexed:
        owner = refs.get(res.patient_ref) if res.patient_ref else None
        if owner is None:
            raise InvalidInput("subject: no such patient", field="subject")
        owners.append(owner)
    write_resources(session, indexed, owners, source=source, now=clock.now())
    types = sorted({r.resource_type for r in indexed})
    Auditor(session, clock, principal, purpose)(
        AuditAction.CREATE,
        "fhir-resource",
        sorted(set(owners)),
        detail={"source": source[:100], "types": types},
    )
    return owners


def resolve_patient_reference(session: Session, reference: str) -> str | None:
    """The careloop patient id behind a ``Patient/<FHIR id>`` reference, or None."""
    return PatientIndex().resolve(session, {reference}).get(reference)


def get_resource(session: Session, *, resource_type: str, fhir_id: str) -> dict[str, Any] | None:
    """The stored resource, or None."""
    row = session.get(FhirResource, (resource_type, fhir_id))
    return row.resource if row is not None else None


def resources_by_id(
    session: Session, resource_type: str, fhir_ids: Iterable[str | None]
) -> dict[str, dict[str, Any]]:
    """The stored resources of one type among ``fhir_ids`` (empty ids skipped), by id: one
    query for a page's worth of referenced Schedules, Locations or services."""
    wanted = sorted({i for i in fhir_ids if i})
    if not wanted:
        return {}
    rows = session.scalars(
        select(FhirResource.resource).where(
            FhirResource.resource_type == resource_type, FhirResource.fhir_id.in_(wanted)
        )
    )
    return {r["id"]: r for r in rows}


def patient_resources(
    session: Session,
    *,
    patient_id: str,
    resource_types: Sequence[str],
    since: datetime | None = None,
) -> list[dict[str, Any]]:
    """One patient's resources of some types, oldest first; ``since`` bounds the time."""
    query = select(FhirResource.resource).where(FhirResource.patient_id == patient_id)
    return list(session.scalars(_oldest_first(query, resource_types, since)))


def resources_of_patients(
    session: Session,
    *,
    patient_ids: Collection[str],
    resource_types: Sequence[str],
    since: datetime | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """:func:`patient_resources` for many patients in one query (a batch of readings):
    each patient's resources oldest first, every asked patient present."""
    found: dict[str, list[dict[str, Any]]] = {p: [] for p in patient_ids}
    if not found:
        return found
    query = select(FhirResource.patient_id, FhirResource.resource).where(
        FhirResource.patient_id.in_(sorted(found))
    )
    for patient_id, resource in session.execute(_oldest_first(query, resource_types, since)):
        found[patient_id].append(resource)
    return found


def _oldest_first(
    query: Select[_Row], resource_types: Sequence[str], since: datetime | None
) -> Select[_Row]:
    """``query`` narrowed to ``resource_types`` (and to ``since`` on), in the record's order:
    the one filter and order the single-patient and the batch read must share."""
    query = query.where(FhirResource.resource_type.in_(resource_types))
    if since is not None:
        query = query.where(FhirResource.effective_start >= since)
    return query.order_by(FhirResource.effective_start.nulls_first(), FhirResource.fhir_id)
