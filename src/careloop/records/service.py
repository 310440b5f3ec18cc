"""Reading the consolidated patient record. Other domains call these, never the tables.

Callers at the edge check access and write the audit event (see careloop.web.deps and
careloop.audit); these functions only read.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, any_, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from careloop.db import any_of, get_or_missing
from careloop.fhirdata.codings import first_coding
from careloop.fhirdata.dates import age_on
from careloop.models import FhirResource, Patient, PatientIdentifier
from careloop.records.availability import describe
from careloop.records.caregivers import caregivers_of
from careloop.records.code_filter import carries_code
from careloop.records.demographics import age_band
from careloop.records.extract import CLINICAL_TYPES
from careloop.records.interpreter import interpreter_for
from careloop.records.schemas import (
    AvailabilityWindow,
    CaregiverOut,
    ContactPoint,
    Identifier,
    PatientRecord,
    PatientSummary,
    TimelineItem,
)

_CODE_FIELD = {
    "Observation": "code",
    "Condition": "code",
    "Procedure": "code",
    "Immunization": "vaccineCode",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationDispense": "medicationCodeableConcept",
    "Encounter": "type",
    "DiagnosticReport": "code",
    "CarePlan": "category",
    "Goal": "description",
    "Appointment": "serviceType",
    "Coverage": "type",
}


def _display(resource: dict[str, Any]) -> tuple[str | None, str | None]:
    value = resource.get(_CODE_FIELD.get(resource["resourceType"], ""))
    concept = value[0] if isinstance(value, list) and value else value
    if not isinstance(concept, dict):
        return None, None
    first = first_coding(concept)
    return first.get("code"), concept.get("text") or first.get("display")


def get_patient(session: Session, patient_id: str) -> Patient:
    return get_or_missing(session, Patient, patient_id, "no such patient")


def timeline(
    session: Session, *, patient_id: str, types: Sequence[str] = CLINICAL_TYPES, limit: int = 200
) -> list[TimelineItem]:
    """The patient's clinical resources, newest first."""
    rows = session.execute(
        select(
            FhirResource.resource,
            FhirResource.effective_start,
            FhirResource.effective_end,
            FhirResource.status,
        )
        .where(FhirResource.patient_id == patient_id, FhirResource.resource_type.in_(types))
        .order_by(FhirResource.effective_start.desc().nulls_last(), FhirResource.fhir_id)
        .limit(limit)
    ).all()
    items = []
    for resource, start, end, status in rows:
        code, display = _display(resource)
        items.append(
            TimelineItem(
                resource_type=resource["resourceType"],
                id=resource["id"],
                date=start,
                end=end,
                status=status,
                code=code,
                display=display,
            )
        )
    return items


def get_patient_record(
    session: Session, *, patient_id: str, timeline_limit: int = 200
) -> PatientRecord:
    """One record per patient: identity, demographics, contacts, caregivers and timeline."""
    patient = get_patient(session, patient_id)
    identifiers = session.execute(
        select(PatientIdentifier.system, PatientIdentifier.value)
        .where(PatientIdentifier.patient_id == patient_id)
        .order_by(PatientIdentifier.system, PatientIdentifier.value)
    ).all()
    sources = session.scalars(
        select(FhirResource.fhir_id)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id)
        .order_by(FhirResource.imported_at)
    ).all()
    counts = resource_type_counts(session, patient_id=patient_id)
    caregivers = [
        CaregiverOut(
            id=c.id,
            name=c.name,
            relationship=c.relationship,
            contact_points=[ContactPoint(**cp) for cp in c.contact_points],
            availability=[AvailabilityWindow(**w) for w in c.availability],
            availability_text=describe(c.availability),
            is_proxy=c.is_proxy,
        )
        for c in caregivers_of(session, patient_id=patient_id)
    ]
    need = interpreter_for(session, patient_id=patient_id)
    return PatientRecord(
        id=patient.id,
        identifiers=[Identifier(system=s, value=v) for s, v in identifiers],
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date,
        gender=patient.gender,
        language=patient.language,
        interpreter=need.language_name if need is not None else None,
        timezone=patient.timezone,
        timezone_source=patient.timezone_source,
        deceased=patient.deceased,
        deceased_at=patient.deceased_at,
        race=patient.race,
        ethnicity=patient.ethnicity,
        address=patient.address,
        contact_points=[ContactPoint(**cp) for cp in patient.contact_points],
        caregivers=caregivers,
        sources=list(sources),
        resource_counts=dict(sorted(counts.items())),
        timeline=timeline(session, patient_id=patient_id, limit=timeline_limit),
    )


def list_patients(
    session: Session, *, limit: int = 100, offset: int = 0, include_deceased: bool = True
) -> list[PatientSummary]:
    """Patients in id order, ``limit`` from ``offset``. The rows skipped are counted on the
    primary key alone (an index-only scan) and only the page's rows are read whole: an
    ``OFFSET`` over whole rows read 100,000 of them for the last page at 100,000 patients."""
    query = select(Patient).order_by(Patient.id).limit(limit)
    if not include_deceased:
        query = query.where(Patient.deceased.is_(False))
    if offset:
        skipped = select(Patient.id).order_by(Patient.id).offset(offset).limit(1)
        if not include_deceased:
            skipped = skipped.where(Patient.deceased.is_(False))
        query = query.where(Patient.id >= skipped.scalar_subquery())
    return [PatientSummary.model_validate(p, from_attributes=True) for p in session.scalars(query)]


def count_resources(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(FhirResource.resource_type, func.count()).group_by(FhirResource.resource_type)
    ).all()
    return dict(sorted((t, int(n)) for t, n in rows))


def patient_ids(session: Session, *, include_deceased: bool = True) -> list[str]:
    query = select(Patient.id).order_by(Patient.id)
    if not include_deceased:
        query = query.where(Patient.deceased.is_(False))
    return list(session.scalars(query))


def load_patient_resources(
    session: Session,
    *,
    patient_ids: list[str] | None = None,
    batch: int = 500,
    only_codes: Collection[str] | None = None,
    always_types: Sequence[str] = ("Patient",),
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each patient's FHIR resources (its Patient resources included), a batch at a time.

    One query per batch of patients, never one per patient, so population-wide evaluation
    stays fast. With ``only_codes``, indexed resources are loaded only when one of their
    codes is in the set (resources of ``always_types`` and of types careloop does not index
    are always loaded): decoding JSON is most of the cost of reading a record.
    """
    ids = patient_ids if patient_ids is not None else _all_patient_ids(session)
    wanted = _code_filter(session, only_codes, always_types) if only_codes is not None else None
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        grouped: dict[str, list[dict[str, Any]]] = {pid: [] for pid in chunk}
        query = select(FhirResource.patient_id, FhirResource.resource).where(
            FhirResource.patient_id.in_(chunk)
        )
        if wanted is not None:
            query = query.where(wanted)
        rows = session.execute(query.order_by(FhirResource.patient_id))
        for pid, resource in rows:
            grouped[pid].append(resource)
        yield from grouped.items()


def _code_filter(
    session: Session, codes: Collection[str], always_types: Sequence[str]
) -> ColumnElement[bool]:
    """WHERE clause: always-loaded types, unindexed types, or a resource with a wanted code."""
    has_code = carries_code(session.get_bind().dialect.name, codes)
    return or_(
        FhirResource.resource_type.in_(always_types),
        FhirResource.supported.is_(False),
        has_code,
    )


def _all_patient_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Patient.id).order_by(Patient.id)))


def resource_type_counts(session: Session, *, patient_id: str) -> Counter[str]:
    rows = session.execute(
        select(FhirResource.resource_type, func.count())
        .where(FhirResource.patient_id == patient_id)
        .group_by(FhirResource.resource_type)
    ).all()
    return Counter({t: int(n) for t, n in rows})


# -- read functions used by governance (consent, portal, export) --


def contact_snapshot(
    session: Session, *, patient_ids: Sequence[str]
) -> dict[str, tuple[bool, list[dict[str, Any]]]]:
    """Per patient: (deceased, contact points), one query for the whole batch."""
    rows = session.execute(
        select(Patient.id, Patient.deceased, Patient.contact_points).where(
            any_of(session, Patient.id, patient_ids)
        )
    ).all()
    return {pid: (bool(deceased), list(points or [])) for pid, deceased, points in rows}


def resources_of_type(
    session: Session, *, resource_type: str, patient_ids: Sequence[str] | None = None
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(patient id, resource) for every stored resource of one type, e.g. ``Consent``, in
    ``fhir_id`` order. The programs job asked for 90,300 patients' visits at once, past the
    65,535 parameters a statement takes: PostgreSQL gets them as one array parameter, so the
    database orders once in its own collation; SQLite (no arrays) takes ``IDS_PER_STATEMENT``
    a statement, merged in Python, whose order is SQLite's binary collation."""
    query = select(FhirResource.patient_id, FhirResource.resource, FhirResource.fhir_id).where(
        FhirResource.resource_type == resource_type
    )
    parts: list[Iterable[Any]]
    if patient_ids is None:
        parts = [session.execute(query.order_by(FhirResource.fhir_id))]
    elif session.get_bind().dialect.name == "postgresql":
        array = bindparam("patient_ids", sorted(set(patient_ids)), type_=ARRAY(String))
        parts = [
            session.execute(
                query.where(FhirResource.patient_id == any_(array)).order_by(FhirResource.fhir_id)
            )
        ]
    else:
        ids = sorted(set(patient_ids))
        parts = [
            session.execute(
                query.where(
                    FhirResource.patient_id.in_(ids[start : start + IDS_PER_STATEMENT])
                ).order_by(FhirResource.fhir_id)
            ).all()
            for start in range(0, len(ids), IDS_PER_STATEMENT)
        ]
    for patient_id, resource, _ in heapq.merge(*parts, key=_fhir_id):
        yield patient_id, resource


IDS_PER_STATEMENT = 5_000
"""Ids bound in one ``IN`` list on SQLite (which takes at most 32,766 parameters)."""


def _fhir_id(row: Any) -> str:
    return str(row[2])


def resources_started_between(
    session: Session, *, resource_type: str, start: datetime, end: datetime
) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(patient id, resource) of one type whose clinical time starts in ``[start, end)``
    (the indexed ``effective_start``: e.g. the visits of the last week, without the rest)."""
    query = select(FhirResource.patient_id, FhirResource.resource).where(
        FhirResource.resource_type == resource_type,
        FhirResource.effective_start >= start,
        FhirResource.effective_start < end,
    )
    for row in session.execute(query.order_by(FhirResource.effective_start, FhirResource.fhir_id)):
        yield row.patient_id, row.resource


def reporting_attributes(
    session: Session, *, patient_ids: Collection[str], as_of: date
) -> dict[str, dict[str, str]]:
    """Language, sex, age band, race and ethnicity of each patient, for fairness reporting.

    Only coarse attributes leave this function: an age band instead of a birth date, so
    reports built on it carry no direct identifiers.
    """
    result: dict[str, dict[str, str]] = {}
    ids = list(patient_ids)
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(
                Patient.id,
                Patient.language,
                Patient.gender,
                Patient.birth_date,
                Patient.race,
                Patient.ethnicity,
            ).where(Patient.id.in_(ids[start : start + 500]))
        )
        for pid, language, gender, born, race, ethnicity in rows:
            age = age_on(born, as_of) if born is not None else None
            result[pid] = {
                "language": (language or "unknown").split("-")[0].lower(),
                "sex": gender or "unknown",
                "age_band": age_band(age),
                "race": race or "not recorded",
                "ethnicity": ethnicity or "not recorded",
            }
    return result
