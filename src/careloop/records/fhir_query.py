"""Query helpers for serving the record over FHIR: stored resources by type, id, patient
and code, and patients by identifier, without loading what the query can rule out."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from careloop.models import FhirResource, PatientIdentifier
from careloop.records.code_filter import may_carry_code


@dataclass(frozen=True)
class StoredResource:
    resource: dict[str, Any]
    patient_id: str | None
    last_updated: datetime | None


def _filtered(
    query: Select[Any],
    *,
    resource_type: str,
    fhir_ids: Collection[str] | None,
    patient_ids: Collection[str] | None,
    codes: Collection[tuple[str | None, str]] | None,
    since: datetime | None,
) -> Select[Any]:
    query = query.where(FhirResource.resource_type == resource_type)
    if fhir_ids is not None:
        query = query.where(FhirResource.fhir_id.in_(list(fhir_ids)))
    if patient_ids is not None:
        query = query.where(FhirResource.patient_id.in_(list(patient_ids)))
    if since is not None:
        query = query.where(FhirResource.imported_at >= since)
    if codes:
        query = query.where(may_carry_code({code for _system, code in codes}))
    return query


def stored_resources(
    session: Session,
    *,
    resource_type: str,
    fhir_ids: Collection[str] | None = None,
    patient_ids: Collection[str] | None = None,
    codes: Collection[tuple[str | None, str]] | None = None,
    since: datetime | None = None,
) -> list[StoredResource]:
    """Stored resources of one type, narrowed by id, owning patient, code (a superset: the
    caller matches systems) and last update; ordered by id."""
    query = select(FhirResource.resource, FhirResource.patient_id, FhirResource.imported_at)
    query = _filtered(
        query,
        resource_type=resource_type,
        fhir_ids=fhir_ids,
        patient_ids=patient_ids,
        codes=codes,
        since=since,
    ).order_by(FhirResource.fhir_id)
    return [StoredResource(row[0], row[1], row[2]) for row in session.execute(query)]


def stored_resource(session: Session, *, resource_type: str, fhir_id: str) -> StoredResource | None:
    row = session.get(FhirResource, (resource_type, fhir_id))
    if row is None:
        return None
    return StoredResource(row.resource, row.patient_id, row.imported_at)


def patients_with_identifier(session: Session, *, system: str | None, value: str) -> list[str]:
    """Record ids holding an identifier (any system when ``system`` is None)."""
    query = select(PatientIdentifier.patient_id).where(PatientIdentifier.value == value)
    if system is not None:
        query = query.where(PatientIdentifier.system == system)
    return sorted(set(session.scalars(query)))


def stored_types(session: Session) -> list[str]:
    """The resource types the record holds, sorted."""
    query = select(FhirResource.resource_type).distinct()
    return sorted(session.scalars(query))
