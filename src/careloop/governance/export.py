"""Patient data export: everything careloop holds about one patient as a FHIR R4 Bundle.

The right of access (HIPAA 45 CFR 164.524, GDPR art. 15/20): the FHIR resources as
imported, the consent state as ``Consent`` resources, and the accounting of who accessed
the record as ``AuditEvent`` resources.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from careloop.audit import as_fhir_audit_event, iter_audit
from careloop.governance.consent import consent_history
from careloop.governance.consent_fhir import as_fhir_consent
from careloop.records import service as records


def _entry(resource: dict[str, Any]) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:careloop:{resource['resourceType']}/{resource.get('id', '')}",
        "resource": resource,
    }


def export_patient_bundle(session: Session, *, patient_id: str, now: datetime) -> dict[str, Any]:
    """A ``collection`` Bundle of the patient's data (raises NotFound for an unknown id)."""
    records.get_patient(session, patient_id)
    entries: list[dict[str, Any]] = []
    for _pid, resources in records.load_patient_resources(session, patient_ids=[patient_id]):
        entries.extend(_entry(r) for r in resources)
    for row in consent_history(session, patient_id=patient_id):
        entries.append(
            _entry(
                as_fhir_consent(
                    patient_id=patient_id,
                    purpose=row.purpose,
                    channel=row.channel,
                    status=row.status,
                    recorded_at=row.recorded_at,
                    id_=f"careloop-consent-{row.id}",
                )
            )
        )
    entries.extend(
        _entry(as_fhir_audit_event(e)) for e in iter_audit(session, patient_id=patient_id)
    )
    return _collection(entries, now)


def audit_bundle(session: Session, *, patient_id: str | None, now: datetime) -> dict[str, Any]:
    """The audit trail (of one patient, or all) as a Bundle of FHIR ``AuditEvent``."""
    entries = [_entry(as_fhir_audit_event(e)) for e in iter_audit(session, patient_id=patient_id)]
    return _collection(entries, now)


def _collection(entries: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": now.isoformat(),
        "total": len(entries),
        "entry": entries,
    }
