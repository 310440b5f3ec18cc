"""HTTP API of the personalization domain: preference profiles and decisions.

Staff and the patient (or a proxy with write rights) edit stated preferences; the learned
part is read-only. Every read and write is audited like any access to patient data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from careloop.audit import AuditAction, Purpose
from careloop.personalize import service
from careloop.schemas import StrictModel
from careloop.web.deps import PatientReach, reached

router = APIRouter(prefix="/api/patients", tags=["preferences"])


class StatedPreferencesPatch(StrictModel):
    """Fields to change; an explicit ``null`` clears a preference, an absent field keeps it."""

    channel: str | None = None
    send_window: str | None = None
    language: str | None = None
    quiet_hours: str | None = None
    reading_level: str | None = None
    tone: str | None = None
    caregiver_as_contact: bool | None = None


@router.get("/{patient_id}/preferences")
def get_preferences(
    reach: Annotated[PatientReach, reached("preferences:read")],
) -> dict[str, Any]:
    """Stated preferences and what the engine learned, per program."""
    profile = service.get_profile(reach.session, patient_id=reach.patient_id)
    reach.audit(AuditAction.READ, "preference-profile", staff_purpose=Purpose.TREATMENT)
    return profile.as_dict()


@router.patch("/{patient_id}/preferences")
def patch_preferences(
    body: StatedPreferencesPatch,
    reach: Annotated[PatientReach, reached("preferences:write")],
) -> dict[str, Any]:
    """Change stated preferences (staff, or the patient for themself)."""
    changes = body.model_dump(exclude_unset=True)
    profile = service.set_stated_preferences(
        reach.session,
        clock=reach.clock,
        patient_id=reach.patient_id,
        changes=changes,
        actor=reach.principal.actor,
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
    reach: Annotated[PatientReach, reached("decisions:read")],
    program: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    """The engine's latest decisions for a patient, with propensity and explanation."""
    rows = service.list_decisions(
        reach.session, patient_id=reach.patient_id, program=program, limit=limit
    )
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
