"""HTTP API of the records domain: the consolidated patient record."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from careloop.audit import AuditAction, Purpose
from careloop.errors import NotFound
from careloop.records import caregivers, service
from careloop.records.availability import describe
from careloop.records.schemas import AvailabilityWindow, PatientRecord, PatientSummary
from careloop.security.permissions import PatientPanel, may_see
from careloop.web.deps import Acting, PatientReach, SettingsDep, acting, reached

router = APIRouter(prefix="/api/patients", tags=["patients"])


@router.get("", response_model=list[PatientSummary])
def list_patients(
    act: Annotated[Acting, acting("patients:read")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[PatientSummary]:
    """Patient records (staff only; patients use their own record)."""
    if not act.principal.is_staff:
        rows = [
            r
            for r in service.list_patients(act.session, limit=10_000)
            if r.id in act.principal.patient_ids
        ]
    else:
        rows = service.list_patients(act.session, limit=limit, offset=offset)
    act.auditor(Purpose.OPERATIONS)(
        AuditAction.READ, "patient-list", [r.id for r in rows] or [None]
    )
    return rows


@router.get("/{patient_id}", response_model=PatientRecord)
def get_patient(
    reach: Annotated[PatientReach, reached("patients:read")],
    timeline: Annotated[int, Query(ge=0, le=2000)] = 200,
) -> PatientRecord:
    """One patient's record: identity, demographics, contacts, caregivers, timeline."""
    record = service.get_patient_record(
        reach.session, patient_id=reach.patient_id, timeline_limit=timeline
    )
    if not may_see(reach.principal, PatientPanel.CLINICAL_TIMELINE):
        record.timeline = []
    reach.audit(AuditAction.READ, "patient-record", staff_purpose=Purpose.TREATMENT)
    return record


class AvailabilityUpdate(BaseModel):
    windows: list[str] = Field(
        min_length=1, max_length=14, examples=[["mon-fri 15:00-21:00", "sat-sun 09:00-20:00"]]
    )


class VisitRecheckOut(BaseModel):
    booking: str
    outcome: str
    cancelled: int = 0
    """Messages still queued to the caregiver who no longer comes, cancelled
    (``no-longer-escorting``)."""


class AvailabilityOut(BaseModel):
    caregiver: str
    availability: list[AvailabilityWindow]
    text: str
    visits: list[VisitRecheckOut] = []
    """Visits booked with this caregiver coming along that the change re-checked
    (``access.escorts``): a ride planned, or a coordinator task."""


@router.put("/{patient_id}/caregivers/{caregiver_id}/availability", response_model=AvailabilityOut)
def put_availability(
    caregiver_id: str,
    body: AvailabilityUpdate,
    reach: Annotated[PatientReach, reached("patients:write")],
    settings: SettingsDep,
) -> AvailabilityOut:
    """Record when a caregiver can be reached (e.g. after work on weekdays); the visits
    booked with them coming along are re-checked at once."""
    from careloop.access.escorts import recheck_escorts

    session, clock = reach.session, reach.clock
    owned = {c.id for c in caregivers.caregivers_of(session, patient_id=reach.patient_id)}
    if caregiver_id not in owned:
        raise NotFound("no such caregiver for this patient")
    caregiver = caregivers.set_availability(
        session, caregiver_id=caregiver_id, windows=body.windows, now=clock.now()
    )
    reach.audit(AuditAction.UPDATE, "caregiver")
    checked = recheck_escorts(session, clock=clock, settings=settings, patient_id=reach.patient_id)
    return AvailabilityOut(
        caregiver=caregiver.id,
        availability=[AvailabilityWindow(**w) for w in caregiver.availability],
        text=describe(caregiver.availability),
        visits=[VisitRecheckOut(**c.as_json()) for c in checked],
    )
