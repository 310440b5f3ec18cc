"""The audit trail and patient data export over HTTP (admins read the trail)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import select

from careloop.audit import AuditAction, Purpose, verify_chain
from careloop.crypto import configured_signing_key
from careloop.governance.export import export_patient_bundle
from careloop.models import AuditEvent
from careloop.queryfilters import where_given
from careloop.security.principal import Principal
from careloop.web.deps import (
    Acting,
    PatientReach,
    SessionDep,
    acting,
    audit_security,
    get_runtime,
    reached,
    require,
)

router = APIRouter(tags=["audit"])


class AuditEventOut(BaseModel):
    id: int
    occurred_at: datetime
    actor: str
    actor_role: str | None
    action: str
    resource: str
    patient_id: str | None
    purpose: str
    source: str | None
    outcome: str
    hash: str


class ChainOut(BaseModel):
    ok: bool
    checked: int
    purged: int
    first_bad_id: int | None
    reason: str | None


@router.get("/api/audit", response_model=list[AuditEventOut])
def list_audit(
    act: Annotated[Acting, acting("audit:read")],
    patient_id: Annotated[str | None, Query(max_length=64)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=2**62)] = None,
) -> list[AuditEventOut]:
    """Audit events, newest first (reading the trail is itself audited)."""
    query = where_given(
        select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit),
        (AuditEvent.patient_id, patient_id),
        (AuditEvent.actor, actor),
    )
    if before_id is not None:
        query = query.where(AuditEvent.id < before_id)
    rows = [
        AuditEventOut.model_validate(row, from_attributes=True)
        for row in act.session.scalars(query)
    ]
    audit_security(
        act.session,
        act.clock,
        act.principal,
        AuditAction.READ,
        "audit-trail",
        patient_id=patient_id,
    )
    return rows


@router.get("/api/audit/verify", response_model=ChainOut)
def verify_audit(
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("audit:read"))],
) -> ChainOut:
    """Walk the hash chain (from the latest signed checkpoint) and report the first break."""
    key = configured_signing_key(get_runtime(request).settings)
    return ChainOut(**verify_chain(session, key=key).as_dict())


@router.get("/api/patients/{patient_id}/$export")
def export_patient(
    reach: Annotated[PatientReach, reached("patients:read_clinical")],
) -> dict[str, Any]:
    """Everything careloop holds about the patient, as a FHIR R4 Bundle (right of access)."""
    now = reach.clock.now()
    bundle = export_patient_bundle(reach.session, patient_id=reach.patient_id, now=now)
    reach.audit(AuditAction.EXPORT, "patient-export", staff_purpose=Purpose.TREATMENT)
    return bundle
