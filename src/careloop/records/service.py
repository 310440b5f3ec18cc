"""Reading the consolidated patient record. Other domains call these, never the tables.

Callers at the edge check access and write the audit event (see careloop.web.deps and
careloop.governance.audit); these functions only read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from careloop.errors import NotFound
from careloop.models import FhirResource, Patient, PatientIdentifier
from careloop.records.availability import describe
from careloop.records.caregivers import caregivers_of
from careloop.records.schemas import (
    AvailabilityWindow,
    CaregiverOut,
    ContactPoint,
    Identifier,
    PatientRecord,
    PatientSummary,
    TimelineItem,
)

CLINICAL_TYPES = (
    "Encounter",
    "Condition",
    "Observation",
    "Procedure",
    "Immunization",
    "MedicationRequest",
    "MedicationDispense",
    "Appointment",
    "DiagnosticReport",
    "CarePlan",
    "Goal",
    "Coverage",
    "Consent",
    "QuestionnaireResponse",
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
    codings = concept.get("coding") or [{}]
    first = codings[0] if isinstance(codings[0], dict) else {}
    return first.get("code"), concept.get("text") or first.get("display")


def get_patient(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound("no such patient")
    return patient


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
    counts: dict[str, int] = dict(
        session.execute(  # type: ignore[arg-type]
            select(FhirResource.resource_type, func.count())
            .where(FhirResource.patient_id == patient_id)
            .group_by(FhirResource.resource_type)
        ).all()
    )
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
    return PatientRecord(
        id=patient.id,
        identifiers=[Identifier(system=s, value=v) for s, v in identifiers],
        given_name=patient.given_name,
        family_name=patient.family_name,
        birth_date=patient.birth_date,
        gender=patient.gender,
        language=patient.language,
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
    query = select(Patient).order_by(Patient.id).limit(limit).offset(offset)
    if not include_deceased:
        query = query.where(Patient.deceased.is_(False))
    return [
        PatientSummary(
            id=p.id,
            given_name=p.given_name,
            family_name=p.family_name,
            birth_date=p.birth_date,
            gender=p.gender,
            deceased=p.deceased,
        )
        for p in session.scalars(query)
    ]


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
    session: Session, *, patient_ids: list[str] | None = None, batch: int = 500
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Each patient's FHIR resources (its Patient resources included), a batch at a time.

    One query per batch of patients, never one per patient, so population-wide evaluation
    stays fast.
    """
    ids = patient_ids if patient_ids is not None else _all_patient_ids(session)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        grouped: dict[str, list[dict[str, Any]]] = {pid: [] for pid in chunk}
        rows = session.execute(
            select(FhirResource.patient_id, FhirResource.resource)
            .where(FhirResource.patient_id.in_(chunk))
            .order_by(FhirResource.patient_id)
        )
        for pid, resource in rows:
            grouped[pid].append(resource)
        yield from grouped.items()


def _all_patient_ids(session: Session) -> list[str]:
    return list(session.scalars(select(Patient.id).order_by(Patient.id)))


def resource_type_counts(session: Session, *, patient_id: str) -> Counter[str]:
    rows = session.execute(
        select(FhirResource.resource_type, func.count())
        .where(FhirResource.patient_id == patient_id)
        .group_by(FhirResource.resource_type)
    ).all()
    return Counter({t: int(n) for t, n in rows})
