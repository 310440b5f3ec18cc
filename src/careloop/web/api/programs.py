"""HTTP API of the programs domain: programs (list, show, run) and segments.

Segments are an analyst's reporting dimension too: ``segments:read`` sees counts only
(aggregates); member ids need ``patients:read`` and a staff role.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.errors import PermissionDenied
from careloop.programs import views
from careloop.programs.definition import find_program, load_programs
from careloop.programs.segments.definition import find_segment, load_segments
from careloop.programs.segments.service import segment_counts, segment_members
from careloop.programs.service import run_program
from careloop.schemas import StrictModel
from careloop.security.principal import Principal
from careloop.web.deps import Acting, ClockDep, PrincipalDep, SessionDep, acting, require

router = APIRouter(tags=["programs"])
ProgramReader = Annotated[Principal, Depends(require("programs:read"))]
"""Who may read program definitions."""


class RunRequest(StrictModel):
    """Which window to evaluate: a measurement period, an as-of day, or (neither) today."""

    period: str | None = None
    as_of: date | None = None


def _folder(request: Request, attribute: str) -> Path | None:
    folder = getattr(request.app.state, attribute, None)
    return Path(folder) if folder is not None else None


@router.get("/api/programs")
def list_programs(
    request: Request,
    principal: ProgramReader,
) -> list[dict[str, Any]]:
    """Every program with its call to action, eligibility, period and holdout."""
    programs = load_programs(_folder(request, "programs_dir"))
    return [views.program_summary(p) for p in programs.values()]


@router.get("/api/programs/{name}")
def get_program(
    name: str,
    request: Request,
    principal: ProgramReader,
) -> dict[str, Any]:
    """A program's full definition."""
    return views.program_detail(find_program(name, folder=_folder(request, "programs_dir")))


@router.post("/api/programs/{name}/run")
def run(
    name: str,
    request: Request,
    act: Annotated[Acting, acting("programs:run")],
    body: RunRequest | None = None,
) -> dict[str, Any]:
    """Find the eligible patients and record ``eligible`` events (idempotent)."""
    program = find_program(name, folder=_folder(request, "programs_dir"))
    wanted = body or RunRequest()
    result = run_program(
        act.session,
        program=program,
        now=act.clock.now(),
        period=wanted.period,
        as_of=wanted.as_of,
        actor=act.principal.actor,
        segments_dir=_folder(request, "segments_dir"),
    )
    act.auditor(Purpose.OUTREACH)(
        AuditAction.CREATE,
        f"program:{program.name}:eligible",
        [e.patient_id for e in result.eligible] or [None],
        detail={"period": result.window.key, "evaluated": result.evaluated},
    )
    return result.as_json()


def _may_see_segments(principal: Principal) -> None:
    if principal.can("segments:read") or (principal.is_staff and principal.can("programs:read")):
        return
    raise PermissionDenied(f"role {principal.role} may not segments:read")


@router.get("/api/segments")
def list_segments(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> list[dict[str, Any]]:
    """Every segment with its dimension and current size (an aggregate)."""
    _may_see_segments(principal)
    folder = _folder(request, "segments_dir")
    sizes = segment_counts(session, now=clock.now(), folder=folder)
    items = [views.segment_summary(s) for s in load_segments(folder).values()]
    for item in items:
        item["members"] = sizes[item["name"]]
    return items


@router.get("/api/segments/{name}/members")
def list_segment_members(
    name: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> dict[str, Any]:
    """Staff with ``patients:read`` get the member ids; ``segments:read`` alone the count."""
    _may_see_segments(principal)
    folder = _folder(request, "segments_dir")
    find_segment(name, folder=folder)
    members = segment_members(session, name=name, now=clock.now(), folder=folder)
    if not (principal.is_staff and principal.can("patients:read")):
        return {"segment": name, "count": len(members)}
    Auditor(session, clock, principal, Purpose.OPERATIONS)(
        AuditAction.READ, f"segment:{name}:members", members or [None]
    )
    return {"segment": name, "count": len(members), "members": members}
