"""The worklist page and its actions: acknowledge, resolve, approve or reject a plan change.

Reads come from :func:`careloop.careteam.worklist.list_worklist`; every action is the care
team API's own endpoint function, so the rules (who may act on a clinical alert, who may
approve a plan) are enforced in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from careloop.careteam import plans
from careloop.careteam.worklist import WorklistEntry, list_worklist
from careloop.errors import NotFound
from careloop.records.service import get_patient
from careloop.security.permissions import ItemAction, may_act_on_item
from careloop.security.principal import Principal
from careloop.web.api import careteam as careteam_api
from careloop.web.console.pages import (
    after_post,
    forbidden,
    page_principal,
    render,
    sign_in_redirect,
    time_left,
)
from careloop.web.deps import ClockDep, SessionDep, SettingsDep, require

router = APIRouter(include_in_schema=False)

Writer = Annotated[Principal, Depends(require("worklist:write"))]
Approver = Annotated[Principal, Depends(require("plans:approve"))]


@dataclass(frozen=True)
class ItemView:
    """One worklist row as the page shows it."""

    entry: WorklistEntry
    patient_name: str
    time_left: str
    may_act: bool
    proposals: list[dict[str, Any]]


def _name(session: Session, patient_id: str) -> str:
    try:
        patient = get_patient(session, patient_id)
    except NotFound:
        return patient_id
    name = " ".join(p for p in (patient.given_name, patient.family_name) if p)
    return name or patient_id


def item_views(
    session: Session, entries: list[WorklistEntry], *, principal: Principal, now: datetime
) -> list[ItemView]:
    """Rows with names, time left, and the plan changes awaiting a clinician."""
    names: dict[str, str] = {}
    views = []
    for entry in entries:
        key = entry.patient_id or ""
        if key not in names:
            # An unknown sender's message has no patient until someone links it.
            names[key] = _name(session, key) if key else "unknown sender"
        proposals = []
        for plan_id in entry.proposals:
            row = plans.get_adjustment(session, plan_id)
            proposals.append(
                {"id": row.id, "kind": row.kind, "reason": row.reason, "details": row.details}
            )
        views.append(
            ItemView(
                entry=entry,
                patient_name=names[entry.patient_id or ""],
                time_left=time_left(entry.due_at, now),
                # The API's own rule (security.permissions), which it enforces.
                may_act=may_act_on_item(principal, item_kind=entry.kind, action=ItemAction.RESOLVE),
                proposals=proposals,
            )
        )
    return views


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/console/worklist", response_class=HTMLResponse)
def worklist_page(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    program: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    severity: str | None = None,
) -> Response:
    principal = page_principal(request, session, clock)
    if principal is None:
        return sign_in_redirect(request)
    if not principal.can("worklist:read"):
        return forbidden(request, principal, what="the worklist")
    now = clock.now()
    everything = list_worklist(session, now=now, limit=1000)
    wanted = {
        "program": _clean(program),
        "team": _clean(team),
        "assignee": _clean(assignee),
        "severity": _clean(severity) if severity in ("urgent", "high", "routine") else None,
    }
    entries = list_worklist(
        session,
        now=now,
        program=wanted["program"],
        team=wanted["team"],
        assignee=wanted["assignee"],
        severity=wanted["severity"],
    )
    careteam_api.audit_worklist_read(session, clock=clock, principal=principal, entries=entries)
    options = {
        "program": sorted({e.program for e in everything if e.program}),
        "team": sorted({e.team for e in everything if e.team}),
        "assignee": sorted({e.assignee for e in everything if e.assignee}),
    }
    return render(
        request,
        "console/worklist.html",
        {
            "section": "worklist",
            "items": item_views(session, entries, principal=principal, now=now),
            "filters": wanted,
            "options": options,
            "total": len(everything),
        },
        principal=principal,
    )


def _back(request: Request, fallback: str = "/console/worklist") -> str:
    """Return to the page the action was taken from (worklist or patient view)."""
    came_from = request.headers.get("HX-Current-URL") or request.headers.get("referer") or ""
    came_from = came_from.split("#", 1)[0]
    path = "/" + came_from.split("/", 3)[3] if came_from.count("/") >= 3 else ""
    return path if path.startswith("/console/") else fallback


@router.post("/console/worklist/{item_id}/acknowledge")
def acknowledge(
    item_id: int, request: Request, session: SessionDep, clock: ClockDep, principal: Writer
) -> Response:
    careteam_api.acknowledge(item_id, session, clock, principal)
    return after_post(request, _back(request))


@router.post("/console/worklist/{item_id}/resolve")
def resolve(
    item_id: int,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Writer,
    outcome: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    careteam_api.resolve(
        item_id, careteam_api.Resolution(outcome=outcome or " "), session, clock, principal
    )
    return after_post(request, _back(request))


@router.post("/console/plan-adjustments/{adjustment_id}/approve")
def approve_adjustment(
    adjustment_id: int,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    principal: Approver,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    plans.approve(
        session,
        adjustment_id,
        clock=clock,
        principal=principal,
        settings=settings,
        note=note or None,
    )
    return after_post(request, _back(request))


@router.post("/console/plan-adjustments/{adjustment_id}/reject")
def reject_adjustment(
    adjustment_id: int,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Approver,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    careteam_api.reject(
        adjustment_id, session, clock, principal, careteam_api.Decision(note=note or None)
    )
    return after_post(request, _back(request))
