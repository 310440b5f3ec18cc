"""Rewards over HTTP: a patient's ledger, and fulfilment (the gift vendor's callback or staff).

The vendor calls ``POST /api/rewards/{id}/fulfilment`` with a service account's token that
holds ``rewards:fulfil`` (a coordinator-role account scoped to it); staff use the same route
from the console. A repeated callback with the same reference changes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from careloop.audit import AuditAction
from careloop.loyalty.ledger import Fulfilment, fulfil, rewards_of
from careloop.models import RewardEntry
from careloop.web.api.outputs import from_attributes
from careloop.web.deps import Acting, PatientReach, acting, reached

router = APIRouter(tags=["rewards"])


class RewardOut(BaseModel):
    id: int
    reward: str
    program: str | None
    value_cents: int
    state: str
    earned_at: datetime
    fulfilled_at: datetime | None
    fulfilment: str | None


class FulfilmentIn(BaseModel):
    how: Literal["webhook", "staff"]
    reference: str | None = Field(default=None, max_length=128, pattern=r"^[A-Za-z0-9._:-]*$")


def _out(entry: RewardEntry) -> RewardOut:
    return from_attributes(RewardOut, entry)


@router.get("/api/patients/{patient_id}/rewards", response_model=list[RewardOut])
def get_rewards(
    reach: Annotated[PatientReach, reached("patients:read", on_record=True)],
) -> list[RewardOut]:
    """The patient's rewards, newest first."""
    out = [_out(e) for e in rewards_of(reach.session, patient_id=reach.patient_id)]
    reach.audit(AuditAction.READ, "reward_entry")
    return out


@router.post("/api/rewards/{entry_id}/fulfilment", response_model=RewardOut)
def post_fulfilment(
    entry_id: int,
    body: FulfilmentIn,
    act: Annotated[Acting, acting("rewards:fulfil")],
) -> RewardOut:
    """Mark an earned reward as handed over (audited; the reference must not carry PHI)."""
    entry = fulfil(
        act.session,
        entry_id=entry_id,
        how=Fulfilment(body.how),
        reference=body.reference,
        clock=act.clock,
        principal=act.principal,
    )
    return _out(entry)
