"""HTTP API of the personalization domain: preference profiles and decisions.

Staff and the patient (or a proxy with write rights) edit stated preferences; the learned
part is read-only. Every read and write is audited like any access to patient data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from careloop.audit import AuditAction, Purpose
from careloop.personalize import service
from careloop.security.principal import Principal
from careloop.web.deps import (
    ClockDep,
    SessionDep,
    reach_patient,
    require,
)

router = APIRouter(prefix="/api/patients", tags=["preferences"])


class StatedPreferencesPatch(BaseModel):
    """Fields to change; an explicit ``null`` clears a preference, an absent field keeps it."""

    model_config = ConfigDict(extra="forbid")

    channel: str | None = None
    send_window: str | None = None
    language: str | None = None
    quiet_hours: str | None = None
    reading_level: str | None = None
    tone: str | None = None
    caregiver_as_contact: bool | None = None


@router.get("/{patient_id}/preferences")
def get_preferences(
    patient_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("preferences:read"))],
) -> dict[str, Any]:
    """Stated preferences and what the engine learned, per program."""
    reach = reach_patient(session, clock, principal, patient_id)
    profile = service.get_profile(session, patient_id=patient_id)
    reach.audit(AuditAction.READ, "preference-profile", staff_purpose=Purpose.TREATMENT)
    return profile.as_dict()


@router.patch("/{patient_id}/preferences")
def patch_preferences(
    patient_id: str,
    body: StatedPreferencesPatch,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("preferences:write"))],
) -> dict[str, Any]:
    """Change stated preferences (staff, or the patient for themself)."""
    reach = reach_patient(session, clock, principal, patient_id)
    changes = body.model_dump(exclude_unset=True)
    profile = service.set_stated_preferences(
        session, clock=clock, patient_id=patient_id, changes=changes, actor=principal.actor
    )
    reach.audit(
        AuditAction.UPDATE,
        "preference-profile",
        staff_purpose=Purpose.TREATMENT,
        detail={"changed": sorted(changes)},
    )
    return profile.as_dict()


@router.get("/{patient_id}/decisions")
def list_decisions(
    patient_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("decisions:read"))],
    program: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The engine's latest decisions for a patient, with propensity and explanation."""
    reach = reach_patient(session, clock, principal, patient_id)
    rows = service.list_decisions(session, patient_id=patient_id, program=program, limit=limit)
    reach.audit(AuditAction.READ, "decisions")
    return [
        {
            "decision_id": r.id,
            "program": r.program,
            "decided_at": r.decided_at.isoformat(),
            "send_at": r.send_at.isoformat() if r.send_at else None,
            "action": None
            if r.channel is None
            else {
                "channel": r.channel,
                "send_window": r.send_window,
                "reading_level": r.reading_level,
                "tone": r.tone,
            },
            "propensity": r.propensity,
            "explanation": r.explanation,
            "removals": r.removals,
            "reward": r.reward,
        }
        for r in rows
    ]
