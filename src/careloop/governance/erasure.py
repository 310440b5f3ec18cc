"""Erasure on request: remove everything careloop holds about a patient, where law allows.

Every table with a ``patient_id`` column is cleared for that patient, whichever domain owns
it, so tables added later are covered without anyone remembering to register them. Two
tables are treated differently, on purpose:

* ``events`` (the event log KPIs are computed from) is append-only: the patient's events
  are re-written under a random pseudonym, so counts and rates stay true while nothing
  links them back to the person;
* ``audit_events`` is kept as it is: the accounting of who accessed the record is a legal
  obligation (HIPAA 45 CFR 164.316(b)(2), GDPR art. 17(3)(b)) and is hash-chained; it holds
  the opaque careloop id only, and that id no longer resolves to anyone.

This is the one place outside the records domain that deletes record rows; the records
domain owns how they are written.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from careloop.fielddicts import field_dict
from careloop.models import Base, Event, FhirResource, Patient, User
from careloop.records import service as records

KEPT_TABLES = frozenset({"audit_events"})
PSEUDONYMIZED_TABLES = frozenset({"events"})


@dataclass
class ErasureReport:
    patient_id: str
    pseudonym: str
    deleted: dict[str, int] = field(default_factory=dict)
    pseudonymized_events: int = 0

    def as_dict(self) -> dict[str, Any]:
        return field_dict(
            self, deleted=dict(sorted(self.deleted.items())), kept=sorted(KEPT_TABLES)
        )


def _patient_tables() -> list[Table]:
    """Tables with a patient_id column, children before parents."""
    return [
        table
        for table in reversed(Base.metadata.sorted_tables)
        if "patient_id" in table.c
        and table.name not in KEPT_TABLES | PSEUDONYMIZED_TABLES
        and table.name != "users"
    ]


def pseudonymize_events(session: Session, *, patient_id: str, pseudonym: str) -> int:
    """Re-write the patient's events under ``pseudonym`` (the table refuses UPDATE)."""
    rows = session.scalars(select(Event).where(Event.patient_id == patient_id)).all()
    copies = [
        {
            "kind": e.kind,
            "patient_id": pseudonym,
            "occurred_at": e.occurred_at,
            "recorded_at": e.recorded_at,
            "actor": e.actor,
            "subject_type": e.subject_type,
            "subject_id": e.subject_id,
            "program": e.program,
            "payload": e.payload,
        }
        for e in rows
    ]
    session.execute(delete(Event).where(Event.patient_id == patient_id))
    if copies:
        session.execute(insert(Event), copies)
    session.flush()
    return len(copies)


def erase_patient(session: Session, *, patient_id: str) -> ErasureReport:
    """Delete the record, its resources, caregivers, identifiers, consents, portal access."""
    records.get_patient(session, patient_id)  # NotFound for an unknown id
    report = ErasureReport(patient_id=patient_id, pseudonym=f"erased-{secrets.token_hex(8)}")
    source_ids = session.scalars(
        select(FhirResource.fhir_id).where(
            FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id
        )
    ).all()
    references = [f"Patient/{fhir_id}" for fhir_id in source_ids]
    if references:
        dangling = session.execute(
            delete(FhirResource).where(FhirResource.patient_ref.in_(references))
        )
        report.deleted["fhir_resources (by reference)"] = int(dangling.rowcount or 0)  # type: ignore[attr-defined]
    portal_users = session.execute(delete(User).where(User.patient_id == patient_id))
    report.deleted["users"] = int(portal_users.rowcount or 0)  # type: ignore[attr-defined]
    for table in _patient_tables():
        if table.name == Patient.__tablename__:
            continue
        result = session.execute(delete(table).where(table.c.patient_id == patient_id))
        if result.rowcount:  # type: ignore[attr-defined]
            report.deleted[str(table.name)] = int(result.rowcount)  # type: ignore[attr-defined]
    gone = session.execute(delete(Patient).where(Patient.id == patient_id))
    report.deleted["patients"] = int(gone.rowcount or 0)  # type: ignore[attr-defined]
    report.pseudonymized_events = pseudonymize_events(
        session, patient_id=patient_id, pseudonym=report.pseudonym
    )
    session.flush()
    return report
