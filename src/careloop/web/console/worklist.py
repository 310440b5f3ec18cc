"""The worklist page and its actions: acknowledge, assign, resolve, approve or reject a plan
change.

Reads come from :func:`careloop.careteam.worklist.list_worklist`; every action is the care
team API's own endpoint function, so the rules (who may act on a clinical alert, who may
approve a plan) are enforced in exactly one place.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.careteam import plans
from careloop.careteam.assignees import Assignable, assignable, in_words, staff_names
from careloop.careteam.worklist import WorklistEntry, list_worklist
from careloop.errors import NotFound
from careloop.models import InboundReply
from careloop.records.service import get_patient_record
from careloop.security.permissions import ItemAction, may_act_on_item
from careloop.security.principal import Principal
from careloop.web.api import careteam as careteam_api
from careloop.web.console.pages import (
    page_viewer,
    render,
    sla_left,
    time_since,
)
from careloop.web.console.patient_context import reading_in_words
from careloop.web.deps import ClockDep, SessionDep, SettingsDep, require

router = APIRouter(include_in_schema=False)

Writer = Annotated[Principal, Depends(require("worklist:write"))]
Approver = Annotated[Principal, Depends(require("plans:approve"))]


@dataclass(frozen=True)
class ItemView:
    """One worklist card as a nurse reads it: who, what happened in words, which rule said so,
    how long ago, how long is left, and one click to call, text or acknowledge."""

    entry: WorklistEntry
    patient_name: str
    time_left: str
    may_act: bool
    proposals: list[dict[str, Any]]
    patient_age: int | None = None
    patient_zone: str | None = None
    phone: str | None = None
    what: str | None = None
    wrote: str | None = None
    source: str | None = None
    since: str = ""
    assignee: str = "unassigned"
    may_assign: bool = False
    assign_to: tuple[Assignable, ...] = ()


@dataclass(frozen=True)
class _Who:
    name: str
    age: int | None
    zone: str | None
    phone: str | None


REPLY_RULE = "outreach-reply"
_REPLY_REF = re.compile(r"\s*\(reply #(?P<id>[^)\s]+)\)")


def _who(session: Session, patient_id: str, today: date) -> _Who:
    try:
        record = get_patient_record(session, patient_id=patient_id, timeline_limit=0)
    except NotFound:
        return _Who(patient_id, None, None, None)
    name = " ".join(p for p in (record.given_name, record.family_name) if p) or patient_id
    birth = record.birth_date
    age = (
        today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
        if birth
        else None
    )
    phone = next(
        (str(cp.value) for cp in record.contact_points if cp.system == "phone" and cp.value), None
    )
    return _Who(name, age, record.timezone, phone)


def _what(session: Session, entry: WorklistEntry) -> tuple[str | None, str | None]:
    """The finding in words, and what the patient wrote when the item is about a reply
    (the task's summary names the reply only by its provider id)."""
    latest = entry.latest or {}
    values = latest.get("values")
    reading = reading_in_words(values) if isinstance(values, dict) else None
    if reading is not None:
        return reading, None
    summary = latest.get("summary")
    if not summary:
        return None, None
    found = _REPLY_REF.search(summary)
    if found is not None:
        body = session.scalar(
            select(InboundReply.body).where(InboundReply.provider_id == found.group("id"))
        )
        return _REPLY_REF.sub("", summary), body
    if entry.rule_id != REPLY_RULE:
        return summary, None
    # A portal message answering no reminder: the patient's latest words up to the task.
    body = session.scalar(
        select(InboundReply.body)
        .where(
            InboundReply.patient_id == entry.patient_id,
            InboundReply.received_at <= entry.last_seen_at,
        )
        .order_by(InboundReply.received_at.desc(), InboundReply.id.desc())
        .limit(1)
    )
    return summary, body


def item_views(
    session: Session, entries: list[WorklistEntry], *, principal: Principal, now: datetime
) -> list[ItemView]:
    """Cards with the patient's name and age, the reply or reading, time since and left."""
    who: dict[str, _Who] = {}
    names = staff_names(session)
    choices: dict[str | None, tuple[Assignable, ...]] = {}
    views = []
    for entry in entries:
        key = entry.patient_id or ""
        if key not in who:
            # An unknown sender's message has no patient until someone links it.
            who[key] = (
                _who(session, key, now.date()) if key else _Who("unknown sender", None, None, None)
            )
        person = who[key]
        proposals = []
        for plan_id in entry.proposals:
            row = plans.get_adjustment(session, plan_id)
            proposals.append(
                {"id": row.id, "kind": row.kind, "reason": row.reason, "details": row.details}
            )
        what, wrote = _what(session, entry)
        if entry.team not in choices:
            choices[entry.team] = tuple(assignable(session, team=entry.team))
        escalated_to = in_words(entry.escalated_to, names) if entry.escalated_to else None
        views.append(
            ItemView(
                entry=entry,
                patient_name=person.name,
                time_left=sla_left(
                    entry.due_at, now, escalations=entry.escalation_level, to=escalated_to
                ),
                # The API's own rule (security.permissions), which it enforces.
                may_act=may_act_on_item(principal, item_kind=entry.kind, action=ItemAction.RESOLVE),
                proposals=proposals,
                patient_age=person.age,
                patient_zone=person.zone,
                phone=person.phone,
                what=what,
                wrote=wrote,
                source=(entry.latest or {}).get("source") or entry.program,
                since=time_since(entry.last_seen_at, now),
                assignee=in_words(entry.assignee, names),
                may_assign=may_act_on_item(
                    principal, item_kind=entry.kind, action=ItemAction.ASSIGN
                ),
                assign_to=choices[entry.team],
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
    principal = page_viewer(request, session, clock, may="worklist:read", what="the worklist")
    if not isinstance(principal, Principal):
        return principal
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
    names = staff_names(session)
    options = {
        "program": [(p, p) for p in sorted({e.program for e in everything if e.program})],
        "team": [(t, t) for t in sorted({e.team for e in everything if e.team})],
        "assignee": sorted(
            {(a, in_words(a, names)) for a in {e.assignee for e in everything if e.assignee}},
            key=lambda pair: pair[1],
        ),
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


def fresh_page(request: Request) -> Response:
    """End an action with a 303 to the page it came from, htmx or not: the browser (or htmx,
    whose forms here target the body) shows that page as it is now. A 200 with
    ``HX-Redirect`` left the old page, with the old holder, on screen until the reload."""
    return RedirectResponse(_back(request), status_code=303)


@router.post("/console/worklist/{item_id}/acknowledge")
def acknowledge(
    item_id: int, request: Request, session: SessionDep, clock: ClockDep, principal: Writer
) -> Response:
    careteam_api.acknowledge(item_id, session, clock, principal)
    return fresh_page(request)


@router.post("/console/worklist/{item_id}/assign")
def assign(
    item_id: int,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: Writer,
    assignee: Annotated[str, Form(max_length=128)] = "",
) -> Response:
    # A blank choice reaches the service, which answers 422 naming ``assignee``.
    careteam_api.assign(
        item_id, careteam_api.Assignment(assignee=assignee or " "), session, clock, principal
    )
    return fresh_page(request)


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
    return fresh_page(request)


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
    return fresh_page(request)


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
    return fresh_page(request)
