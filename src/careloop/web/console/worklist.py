"""The worklist page and its actions: acknowledge, assign, resolve, approve or reject a plan
change.

Reads come from :func:`careloop.careteam.worklist.list_worklist`; every action is the care
team API's own endpoint function, so the rules (who may act on a clinical alert, who may
approve a plan) are enforced in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import Auditor, Purpose
from careloop.careteam import plans
from careloop.careteam.assignees import (
    Assignable,
    TeamTitle,
    assignable,
    in_words,
    staff_names,
    writers,
)
from careloop.careteam.worklist import (
    WorklistEntry,
    WorklistFilter,
    active_summary,
    list_worklist,
)
from careloop.clock import Clock
from careloop.fhirdata.dates import age_on
from careloop.models import InboundReply, Patient, User
from careloop.outreach.config import outreach_settings
from careloop.outreach.titles import program_title
from careloop.security.permissions import ItemAction, may_act_on_item
from careloop.security.principal import Principal
from careloop.settings import title_from_name
from careloop.web.api import careteam as careteam_api
from careloop.web.console.messages import MESSAGES_READ
from careloop.web.console.pages import (
    ConsoleView,
    PageNumber,
    sla_left,
    time_since,
    viewer,
)
from careloop.web.console.patient_context import reading_in_words
from careloop.web.console.threads import (
    REPLY_REF,
    REPLY_RULE,
    ThreadLine,
    about_a_reply,
    reply_threads,
    thread_patients,
)
from careloop.web.deps import ClockDep, SessionDep, SettingsDep, get_settings, require

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
    language: str | None = None
    """A call task's language: "Speaks Spanish · interpreter needed" (whoever calls needs it)."""
    source: str | None = None
    since: str = ""
    assignee: str = "unassigned"
    may_assign: bool = False
    assign_to: tuple[Assignable, ...] = ()
    thread: tuple[ThreadLine, ...] = ()
    """A reply card's conversation, oldest first: what the patient wrote in its context."""


@dataclass(frozen=True)
class _Who:
    name: str
    age: int | None
    zone: str | None
    phone: str | None


PAGE_SIZE = 50
"""Rows per worklist page: the most pressing first, the rest a "next page" away."""


def _people(session: Session, patient_ids: set[str], today: date) -> dict[str, _Who]:
    """Name, age, zone and phone of each patient, in one query (a page of cards used to read
    each patient's whole record: seven queries a card); none for no cards."""
    if not patient_ids:
        return {}
    rows = session.execute(
        select(
            Patient.id,
            Patient.given_name,
            Patient.family_name,
            Patient.birth_date,
            Patient.timezone,
            Patient.contact_points,
        ).where(Patient.id.in_(sorted(patient_ids)))
    ).all()
    people = {}
    for patient_id, given, family, birth, zone, contacts in rows:
        name = " ".join(p for p in (given, family) if p) or patient_id
        age = age_on(birth, today) if birth else None
        phones = (cp.get("value") for cp in contacts if cp.get("system") == "phone")
        phone = next((str(value) for value in phones if value), None)
        people[patient_id] = _Who(name, age, zone, phone)
    return people


def _replies(session: Session, entries: list[WorklistEntry]) -> dict[str, str]:
    """Provider id → body of the replies the entries' findings name (one query)."""
    wanted = set()
    for entry in entries:
        found = REPLY_REF.search(str((entry.latest or {}).get("summary") or ""))
        if found is not None:
            wanted.add(found.group("id"))
    if not wanted:
        return {}
    rows = session.execute(
        select(InboundReply.provider_id, InboundReply.body).where(
            InboundReply.provider_id.in_(sorted(wanted))
        )
    ).all()
    return {str(provider_id): body for provider_id, body in rows}


def _what(
    session: Session, entry: WorklistEntry, replies: dict[str, str]
) -> tuple[str | None, str | None]:
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
    found = REPLY_REF.search(summary)
    if found is not None:
        return REPLY_REF.sub("", summary), replies.get(found.group("id"))
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
    session: Session,
    entries: list[WorklistEntry],
    *,
    principal: Principal,
    now: datetime,
    staff: list[User] | None = None,
    teams: TeamTitle = title_from_name,
    threads: bool = False,
) -> list[ItemView]:
    """Cards with the patient's name and age, the reply or reading, time since and left: a
    fixed number of queries however many cards (patients, plan changes, replies at once).
    ``staff``: the worklist writers when the caller read them already; ``teams``: a team's
    name as staff read it (``ConsoleView.team_title``); ``threads``: a reply card shows the
    conversation (the caller audits it as :data:`MESSAGES_READ` for :func:`thread_patients`).
    """
    who = _people(session, {e.patient_id for e in entries if e.patient_id}, now.date())
    # An unknown sender's message has no patient until someone links it.
    who[""] = _Who("unknown sender", None, None, None)
    adjustments = plans.adjustments_by_id(session, [p for e in entries for p in e.proposals])
    replies = _replies(session, entries)
    staff = writers(session) if staff is None else staff
    names = staff_names(session, among=staff)
    conversations = reply_threads(session, entries, principal, names, now=now) if threads else {}
    choices: dict[str | None, tuple[Assignable, ...]] = {}
    views = []
    for entry in entries:
        key = entry.patient_id or ""
        person = who.get(key) or _Who(key, None, None, None)
        proposals = [
            {
                "id": row.id,
                "kind": row.kind,
                "reason": row.reason,
                "details": row.details,
                "proposed_by": proposer_in_words(row.proposed_by, names),
                "own": row.proposed_by == principal.actor,
            }
            for row in (adjustments[plan_id] for plan_id in entry.proposals)
        ]
        what, wrote = _what(session, entry, replies)
        if entry.team not in choices:
            found = assignable(session, team=entry.team, among=staff, teams=teams)
            choices[entry.team] = tuple(found)
        escalated_to = (
            in_words(entry.escalated_to, names, teams=teams) if entry.escalated_to else None
        )
        views.append(
            ItemView(
                entry=entry,
                patient_name=person.name,
                time_left=sla_left(
                    entry.due_at,
                    now,
                    escalations=entry.escalation_level,
                    to=escalated_to,
                    acknowledged_at=entry.acknowledged_at,
                ),
                # The API's own rule (security.permissions), which it enforces.
                may_act=may_act_on_item(principal, item_kind=entry.kind, action=ItemAction.RESOLVE),
                proposals=proposals,
                patient_age=person.age,
                patient_zone=person.zone,
                phone=person.phone,
                what=what,
                wrote=wrote,
                language=_language_in_words(entry),
                source=_source_in_words(entry),
                since=time_since(entry.last_seen_at, now),
                assignee=in_words(entry.assignee, names, teams=teams),
                may_assign=may_act_on_item(
                    principal, item_kind=entry.kind, action=ItemAction.ASSIGN
                ),
                assign_to=choices[entry.team],
                thread=conversations.get(key, ()) if about_a_reply(entry) else (),
            )
        )
    return views


def _language_in_words(entry: WorklistEntry) -> str | None:
    """The language a call task says the patient speaks, as the card shows it."""
    values = (entry.latest or {}).get("values")
    if not isinstance(values, dict) or not values.get("language_name"):
        return None
    need = " · interpreter needed" if values.get("interpreter_needed") else ""
    return f"Speaks {values['language_name']}{need}"


def _source_in_words(entry: WorklistEntry) -> str | None:
    """What raised the item: a resource reference as it is, a program by its title."""
    source = (entry.latest or {}).get("source") or entry.program
    if source and source == entry.program:
        return program_title(source)
    return source


def proposer_in_words(actor: str | None, names: Mapping[str, str]) -> str:
    """Who proposed a plan change: a person by name, else the rule that did."""
    if actor and actor.startswith("user:"):
        return names.get(actor, "a former staff member")
    return "a monitoring rule"


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


@router.get("/console/worklist", response_class=HTMLResponse)
def worklist_page(
    view: Annotated[ConsoleView, viewer("worklist:read", what="the worklist")],
    page: PageNumber,
    program: str | None = None,
    team: str | None = None,
    assignee: str | None = None,
    severity: str | None = None,
    approved: int | None = None,
) -> Response:
    now = view.clock.now()
    wanted: WorklistFilter = {
        "program": _clean(program),
        "team": _clean(team),
        "assignee": _clean(assignee),
        "severity": _clean(severity) if severity in ("urgent", "high", "routine") else None,
    }
    entries = list_worklist(
        view.session, now=now, limit=PAGE_SIZE, offset=page * PAGE_SIZE, **wanted
    )
    careteam_api.audit_worklist_read(
        view.session, clock=view.clock, principal=view.principal, entries=entries
    )
    staff = writers(view.session)
    items = item_views(
        view.session,
        entries,
        principal=view.principal,
        now=now,
        staff=staff,
        teams=view.team_title,
        threads=True,
    )
    # The reply cards' conversations are message content: a PHI read of its own.
    Auditor(view.session, view.clock, view.principal, Purpose.TREATMENT).read(
        MESSAGES_READ, thread_patients(items)
    )
    names = staff_names(view.session, among=staff)
    summary = active_summary(view.session)
    values = summary.values()
    own = outreach_settings(get_settings(view.request))[0]
    options = {
        "program": [(p, program_title(p, settings=own)) for p in values["program"]],
        "team": sorted(((t, view.team_title(t)) for t in values["team"]), key=_label),
        "assignee": sorted(
            ((a, in_words(a, names, teams=view.team_title)) for a in values["assignee"]),
            key=_label,
        ),
    }
    matching = summary.count(**wanted)
    return view.render(
        "console/worklist.html",
        {
            "section": "worklist",
            "items": items,
            "filters": wanted,
            "options": options,
            "total": summary.count(),
            "matching": matching,
            "first": page * PAGE_SIZE + 1,
            "pages": page_links(
                "/console/worklist", wanted, page=page, shown=len(entries), matching=matching
            ),
            "approved": approval_notice(view.session, approved, principal=view.principal),
        },
    )


def _label(pair: tuple[str, str]) -> str:
    return pair[1]


def page_links(
    path: str, filters: Mapping[str, object], *, page: int, shown: int, matching: int
) -> dict[str, str | None]:
    """The previous and next page's addresses of a paged list at ``path``, filters kept
    (None where there is none)."""

    def link(number: int) -> str:
        query = {k: v for k, v in filters.items() if v}
        return f"{path}?" + urlencode({**query, "page": number})

    more = page * PAGE_SIZE + shown < matching
    return {"previous": link(page - 1) if page else None, "next": link(page + 1) if more else None}


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


@dataclass(frozen=True, slots=True)
class ItemButton:
    """A worklist writer's button on item ``item_id``: act, then show the page it was on."""

    item_id: int
    request: Request
    session: Session
    clock: Clock
    principal: Principal

    def press(self, action: ItemAction, **change: str) -> Response:
        """:func:`careteam_api.act_on_item`, then :func:`fresh_page`."""
        careteam_api.act_on_item(
            self.session, self.item_id, action, clock=self.clock, principal=self.principal, **change
        )
        return fresh_page(self.request)


def _button(
    item_id: int, request: Request, session: SessionDep, clock: ClockDep, principal: Writer
) -> ItemButton:
    return ItemButton(item_id, request, session, clock, principal)


Button = Annotated[ItemButton, Depends(_button)]


@router.post("/console/worklist/{item_id}/acknowledge")
def acknowledge(button: Button) -> Response:
    return button.press(ItemAction.ACKNOWLEDGE)


@router.post("/console/worklist/{item_id}/assign")
def assign(button: Button, assignee: Annotated[str, Form(max_length=128)] = "") -> Response:
    # A blank choice reaches the service, which answers 422 naming ``assignee``.
    return button.press(ItemAction.ASSIGN, assignee=assignee or " ")


@router.post("/console/worklist/{item_id}/resolve")
def resolve(button: Button, outcome: Annotated[str, Form(max_length=2000)] = "") -> Response:
    return button.press(ItemAction.RESOLVE, outcome=outcome or " ")


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
    # The page it came from says the change is approved and how the patient hears of it.
    back = _back(request)
    joiner = "&" if "?" in back else "?"
    return RedirectResponse(f"{back}{joiner}approved={adjustment_id}", status_code=303)


def approval_notice(
    session: Session,
    approved: int | None,
    *,
    principal: Principal,
    patient_id: str | None = None,
) -> plans.ToldPatient | None:
    """The confirmation for ``?approved=<adjustment>``: how the patient hears of the change
    (channel and time). Only for the one who approved it, of a patient they may act for, and
    on a patient page only for that patient's adjustment: any other id in the address (an old
    link, a colleague's, a guess) shows nothing. None when there is nothing to confirm."""
    if approved is None:
        return None
    row = plans.adjustments_by_id(session, [approved]).get(approved)
    if row is None or row.decided_by != principal.actor:
        return None
    if not principal.may_act_for(row.patient_id):
        return None
    if patient_id is not None and row.patient_id != patient_id:
        return None
    return plans.told_patient(session, approved)


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
