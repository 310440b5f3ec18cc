"""HTTP API of the care team: the worklist, alert actions, plan-adjustment proposals and
decisions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from careloop.audit import Auditor, Purpose
from careloop.careteam import alerts, plans, proposals, unmatched
from careloop.careteam.callqueue import CallQueueEntry, ranked_call_queue
from careloop.careteam.worklist import WorklistEntry, alert_burden, entry_of, list_worklist
from careloop.clock import Clock
from careloop.feedback.catalog import default_catalog
from careloop.feedback.ruleset import default_rules
from careloop.models import WorklistItem
from careloop.security.permissions import ItemAction, check_item_action
from careloop.security.principal import Principal
from careloop.web.deps import (
    Acting,
    ClockDep,
    PatientReach,
    SessionDep,
    SettingsDep,
    acting,
    reached,
    require,
)

router = APIRouter(tags=["care team"])
Reader = Annotated[Principal, Depends(require("worklist:read"))]
Writer = Annotated[Principal, Depends(require("worklist:write"))]
Approver = Annotated[Principal, Depends(require("plans:approve"))]


@router.get("/api/worklist", response_model=list[WorklistEntry])
def get_worklist(
    session: SessionDep,
    clock: ClockDep,
    principal: Reader,
    program: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    severity: Annotated[str | None, Query(pattern="^(urgent|high|routine)$")] = None,
    kind: Annotated[str | None, Query(pattern="^(alert|task)$")] = None,
    patient: str | None = None,
    since: datetime | None = None,
    include_resolved: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[WorklistEntry]:
    """Active alerts and tasks, most pressing first (severity, escalation, then deadline)."""
    entries = list_worklist(
        session,
        now=clock.now(),
        program=program,
        team=team,
        assignee=assignee,
        severity=severity,
        kind=kind,
        patient_id=patient,
        since=since,
        include_resolved=include_resolved,
        limit=limit,
        offset=offset,
    )
    audit_worklist_read(session, clock=clock, principal=principal, entries=entries)
    return entries


@router.get("/api/call-queue", response_model=list[CallQueueEntry])
def get_call_queue(session: SessionDep, clock: ClockDep, principal: Reader) -> list[CallQueueEntry]:
    """Open call tasks, most expected benefit per staff minute first, each with its reason."""
    queue = ranked_call_queue(session, now=clock.now())
    audit_worklist_read(session, clock=clock, principal=principal, entries=[q.entry for q in queue])
    return queue


def audit_worklist_read(
    session: Session, *, clock: Clock, principal: Principal, entries: Sequence[WorklistEntry]
) -> None:
    """One audit event for the patients a worklist page showed (none for an empty page)."""
    Auditor(session, clock, principal, Purpose.TREATMENT).read(
        "worklist", sorted({e.patient_id for e in entries if e.patient_id})
    )


_ITEM_ACTIONS: dict[ItemAction, Callable[..., WorklistItem]] = {
    ItemAction.ACKNOWLEDGE: alerts.acknowledge,
    ItemAction.RESOLVE: alerts.resolve,
    ItemAction.ASSIGN: alerts.assign,
}


def act_on_item(
    session: Session,
    item_id: int,
    action: ItemAction,
    *,
    clock: Clock,
    principal: Principal,
    **change: str,
) -> WorklistEntry:
    """Acknowledge, resolve (``outcome=``) or assign (``assignee=``) an alert or task, as
    the API and the console's buttons do: clinical alerts need a clinician's permission,
    tasks any worklist writer's."""
    item = alerts.get_item(session, item_id)
    check_item_action(principal, item_kind=str(item.kind), action=action)
    done = _ITEM_ACTIONS[action](session, item_id, clock=clock, principal=principal, **change)
    return entry_of(done, now=clock.now())


@router.post("/api/alerts/{item_id}/acknowledge", response_model=WorklistEntry)
def acknowledge(
    item_id: int, session: SessionDep, clock: ClockDep, principal: Writer
) -> WorklistEntry:
    """Take ownership of an alert or task (stops its escalation clock)."""
    return act_on_item(session, item_id, ItemAction.ACKNOWLEDGE, clock=clock, principal=principal)


class Resolution(BaseModel):
    outcome: str = Field(min_length=1, max_length=2000, examples=["Called; dose adjusted"])


@router.post("/api/alerts/{item_id}/resolve", response_model=WorklistEntry)
def resolve(
    item_id: int, body: Resolution, session: SessionDep, clock: ClockDep, principal: Writer
) -> WorklistEntry:
    """Close an alert or task with what was done."""
    return act_on_item(
        session, item_id, ItemAction.RESOLVE, clock=clock, principal=principal, outcome=body.outcome
    )


class Assignment(BaseModel):
    assignee: str = Field(min_length=1, max_length=128)


class PatientLink(BaseModel):
    patient: str = Field(min_length=1, max_length=64)


@router.post("/api/alerts/{item_id}/link", response_model=WorklistEntry)
def link(
    item_id: int, body: PatientLink, session: SessionDep, clock: ClockDep, principal: Writer
) -> WorklistEntry:
    """Attach an unknown sender's message task to the patient a person identified."""
    item = unmatched.link_patient(
        session, item_id, patient_id=body.patient, clock=clock, principal=principal
    )
    return entry_of(item, now=clock.now())


@router.post("/api/alerts/{item_id}/assign", response_model=WorklistEntry)
def assign(
    item_id: int, body: Assignment, session: SessionDep, clock: ClockDep, principal: Writer
) -> WorklistEntry:
    """Give an alert or task to a person or queue."""
    return act_on_item(
        session,
        item_id,
        ItemAction.ASSIGN,
        clock=clock,
        principal=principal,
        assignee=body.assignee,
    )


@router.get("/api/alerts/burden")
def burden(
    act: Annotated[Acting, acting("reports:read")],
    days: Annotated[int, Query(ge=1, le=365)] = 30,
) -> dict[str, Any]:
    """Alerts per check-in and per input over the last ``days`` (aggregate, no PHI)."""
    now = act.clock.now()
    return alert_burden(act.session, since=now - timedelta(days=days), until=now)


class PlanAdjustmentOut(BaseModel):
    id: int
    patient_id: str
    item_id: int | None
    rule_id: str
    kind: str
    status: str
    reason: str
    details: dict[str, Any]
    task: dict[str, Any]
    proposed_at: datetime
    proposed_by: str | None
    decided_at: datetime | None
    decided_by: str | None
    decision_note: str | None


def _plan_out(row: Any) -> PlanAdjustmentOut:
    return PlanAdjustmentOut.model_validate(row, from_attributes=True)


@router.get("/api/plan-adjustments", response_model=list[PlanAdjustmentOut])
def get_plan_adjustments(
    session: SessionDep,
    clock: ClockDep,
    principal: Reader,
    status: Annotated[str | None, Query(pattern="^(proposed|approved|rejected)$")] = "proposed",
    patient: str | None = None,
) -> list[PlanAdjustmentOut]:
    rows = plans.list_adjustments(session, status=status, patient_id=patient)
    Auditor(session, clock, principal, Purpose.TREATMENT).read(
        "plan-adjustments", sorted({r.patient_id for r in rows})
    )
    return [_plan_out(r) for r in rows]


class NewProposal(BaseModel):
    kind: str = Field(max_length=40, examples=["reminder_plan"])
    reason: str = Field(
        max_length=2000, examples=["Asks for the evening reminder at 20:00 after her shift"]
    )


@router.post(
    "/api/patients/{patient_id}/plan-adjustments",
    response_model=PlanAdjustmentOut,
    status_code=201,
)
def propose_adjustment(
    body: NewProposal,
    reach: Annotated[PatientReach, reached("plans:propose")],
) -> PlanAdjustmentOut:
    """A nurse (or clinician) proposes a plan change (``kind``: reminder_plan,
    checkin_frequency, symptom_diary, follow_up_visit); another clinician approves it."""
    row = proposals.propose_change(
        reach.session,
        patient_id=reach.patient_id,
        kind=body.kind,
        reason=body.reason,
        clock=reach.clock,
        principal=reach.principal,
    )
    return _plan_out(row)


class Decision(BaseModel):
    note: str | None = Field(default=None, max_length=2000)


@router.post("/api/plan-adjustments/{adjustment_id}/approve", response_model=PlanAdjustmentOut)
def approve(
    adjustment_id: int,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Approver,
    body: Decision | None = None,
) -> PlanAdjustmentOut:
    """Approve: the plan changes and the patient is told (in their language, on their channel)."""
    row = plans.approve(
        session,
        adjustment_id,
        clock=clock,
        principal=principal,
        settings=settings,
        note=body.note if body else None,
    )
    return _plan_out(row)


@router.post("/api/plan-adjustments/{adjustment_id}/reject", response_model=PlanAdjustmentOut)
def reject(
    adjustment_id: int,
    session: SessionDep,
    clock: ClockDep,
    principal: Approver,
    body: Decision | None = None,
) -> PlanAdjustmentOut:
    row = plans.reject(
        session, adjustment_id, clock=clock, principal=principal, note=body.note if body else None
    )
    return _plan_out(row)


@router.get("/api/plan-adjustments/{adjustment_id}/outcome")
def outcome(
    adjustment_id: int,
    session: SessionDep,
    clock: ClockDep,
    principal: Reader,
    window_days: Annotated[int, Query(ge=1, le=90)] = 14,
) -> dict[str, Any]:
    """Did the readings that triggered the change improve after it was approved?"""
    result = plans.adjustment_outcome(
        session,
        adjustment_id,
        now=clock.now(),
        rules=list(default_rules()),
        catalog=default_catalog(),
        window_days=window_days,
    )
    return result.as_dict()
