"""Bulk Data Access (IG v2): ``$export`` kick-off at system, Patient and Group level (the
files are written by the ``fhir-exports`` job, not in the request), the status URL (poll,
cancel) and the NDJSON files. Registered before ``web.api.fhir`` so that
``/fhir/$export`` is not taken for a resource type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import InvalidInput
from careloop.fhir import access, bulk
from careloop.fhir.outcome import issue, outcome
from careloop.security.principal import Principal
from careloop.web.api.fhir_http import base_url, request_url
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep

router = APIRouter(prefix="/fhir", tags=["fhir-bulk"])
RETRY_AFTER = 2
"""Seconds a client waits between polls (the ``fhir-exports`` job runs every few seconds)."""

TypeQuery = Annotated[str | None, Query(alias="_type", max_length=2000)]
SinceQuery = Annotated[str | None, Query(alias="_since", max_length=64)]
FormatQuery = Annotated[str | None, Query(alias="_outputFormat", max_length=64)]


@dataclass(frozen=True)
class _ExportCall:
    """What every ``$export`` kick-off receives, whatever its level."""

    request: Request
    session: Session
    clock: Clock
    principal: Principal
    types: str | None
    since: str | None
    output_format: str | None


def _export_call(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
    types: TypeQuery = None,
    since: SinceQuery = None,
    output_format: FormatQuery = None,
) -> _ExportCall:
    return _ExportCall(request, session, clock, principal, types, since, output_format)


ExportCallDep = Annotated[_ExportCall, Depends(_export_call)]


KICK_OFF_PARAMS = ("_type", "_since", "_outputFormat", "_format")
"""The kick-off parameters careloop honours. Any other (``_typeFilter``, ``_elements``,
``includeAssociatedData``...) is refused by name: ignoring a filter would export more than
asked (``Prefer: handling=strict`` is the only handling careloop offers)."""


def _kick_off(call: _ExportCall, *, level: str, group_id: str | None) -> Response:
    if "respond-async" not in call.request.headers.get("prefer", ""):
        raise InvalidInput("Prefer: respond-async is required for $export", field="Prefer")
    for name in call.request.query_params:
        if name not in KICK_OFF_PARAMS:
            raise InvalidInput(
                f"{name[:64]}: not a $export parameter careloop supports "
                f"({', '.join(KICK_OFF_PARAMS)})",
                field=name[:64],
            )
    # FHIR's general parameter (the kick-off answers JSON only), as the searches take it.
    for value in call.request.query_params.getlist("_format"):
        if value not in ("json", "application/fhir+json", "application/json"):
            raise InvalidInput("_format: only json is served", field="_format")
    wanted = bulk.parse_request(
        level=level,
        group_id=group_id,
        # A repeated _type is one comma-delimited list (Bulk Data IG v2: the server SHALL).
        types=",".join(call.request.query_params.getlist("_type")) or None,
        since=call.since,
        output_format=call.output_format,
        request_url=request_url(call.request),
    )
    access.check_export(call.principal, wanted.types)
    job = bulk.start_export(
        call.session,
        clock=call.clock,
        principal=call.principal,
        request=wanted,
        allowed_patients=access.patients_in_reach(call.principal),
    )
    status_url = f"{base_url(call.request)}/$export-status/{job.id}"
    return Response(status_code=202, headers={"Content-Location": status_url})


@router.get("/$export")
def export_system(call: ExportCallDep) -> Response:
    """Everything careloop holds and learned (``Prefer: respond-async``)."""
    return _kick_off(call, level="system", group_id=None)


@router.get("/Patient/$export")
def export_patients(call: ExportCallDep) -> Response:
    """Every patient's compartment."""
    return _kick_off(call, level="patient", group_id=None)


@router.get("/Group/{group_id}/$export")
def export_group(group_id: str, call: ExportCallDep) -> Response:
    """A Group's members: ``segment-<name>`` or ``program-<name>``."""
    return _kick_off(call, level="group", group_id=group_id)


@router.get("/$export-status/{export_id}")
def export_status(
    request: Request, export_id: str, session: SessionDep, principal: PrincipalDep
) -> Response:
    """202 with ``Retry-After`` while the worker writes it, then the manifest (200); an
    export that failed answers 500 with an OperationOutcome, as the IG says."""
    job = bulk.get_export(session, export_id, principal=principal)
    if job.status == "in-progress":
        headers = {"X-Progress": "in progress", "Retry-After": str(RETRY_AFTER)}
        return Response(status_code=202, headers=headers)
    if job.status == "error":
        body = outcome(issue("the export failed; kick off a new one", code="exception"))
        return JSONResponse(body, status_code=500, media_type="application/fhir+json")
    return JSONResponse(bulk.manifest(session, job, base_url=base_url(request)))


@router.delete("/$export-status/{export_id}")
def export_cancel(export_id: str, session: SessionDep, principal: PrincipalDep) -> Response:
    """Cancel (delete) an export and its files."""
    bulk.cancel(session, bulk.get_export(session, export_id, principal=principal))
    return Response(status_code=202)


@router.get("/$export-file/{export_id}/{seq}")
def export_file(
    export_id: str,
    seq: Annotated[int, Path(ge=1, le=100_000)],
    session: SessionDep,
    principal: PrincipalDep,
) -> Response:
    """One NDJSON file of the manifest (the requester's token is required)."""
    job = bulk.get_export(session, export_id, principal=principal)
    return Response(bulk.export_file(session, job, seq), media_type=bulk.NDJSON)
