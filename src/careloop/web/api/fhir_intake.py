"""FHIR intake: ``POST /fhir/Observation``, ``POST /fhir/QuestionnaireResponse``, ``POST /fhir``.

These live with the care team (not in ``feedback``) because each accepted input runs the
whole loop in the request's transaction: store, evaluate, raise alerts. A refused input
answers 422 with the field at fault and is also written to the event log (the input's
writes are rolled back to a savepoint, the refusal event is committed), so device and form
problems can be counted and fixed.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from careloop.careteam import intake
from careloop.errors import InvalidInput, PermissionDenied
from careloop.events import EventKind
from careloop.feedback.catalog import default_catalog
from careloop.feedback.service import record_rejection
from careloop.records.importer import PatientIndex
from careloop.security.principal import Principal
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep, check_patient_access

router = APIRouter(prefix="/fhir", tags=["fhir-intake"])
FHIR_JSON = "application/fhir+json"


def _may_submit(principal: PrincipalDep) -> Principal:
    """Patients and caregivers submit their own; staff may enter on a patient's behalf."""
    if not any(principal.can(p) for p in ("readings:write", "checkins:write", "patients:write")):
        raise PermissionDenied(f"role {principal.role} may not submit readings or check-ins")
    return principal


SubmitterDep = Annotated[Principal, Depends(_may_submit)]


async def _read_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", field="body")
    return body


BodyDep = Annotated[dict[str, Any], Depends(_read_body)]


def _guard(session: Any, principal: Principal) -> Any:
    def check(resource: dict[str, Any]) -> None:
        if principal.is_staff:
            return
        subject = resource.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(ref, str):
            raise InvalidInput("subject: a Patient reference is required", field="subject")
        owner = PatientIndex().resolve(session, {ref}).get(ref)
        check_patient_access(principal, owner or "")

    return check


def _receive(
    request: Request,
    body: dict[str, Any],
    session: SessionDep,
    clock: ClockDep,
    principal: Principal,
    *,
    expected: str,
) -> JSONResponse:
    if body.get("resourceType") != expected:
        raise InvalidInput(f"resourceType: expected {expected}", field="resourceType")
    kind = EventKind.READING_REJECTED if expected == "Observation" else EventKind.CHECKIN_REJECTED
    _guard(session, principal)(body)
    try:
        with session.begin_nested():
            result = intake.receive_resource(
                session,
                body,
                clock=clock,
                principal=principal,
                source="api",
                catalog=default_catalog(),
            )
    except InvalidInput as exc:
        # Answered, not raised: the refusal is recorded in this (committed) transaction.
        record_rejection(
            session,
            kind=kind,
            reason=str(exc),
            field=exc.field,
            clock=clock,
            actor=principal.actor,
            details={"channel": "api"},
        )
        return JSONResponse({"error": str(exc), "field": exc.field}, status_code=422)
    status = 200 if result.status == "duplicate" else 201
    return JSONResponse(
        result.as_dict(),
        status_code=status,
        headers={"Location": f"/fhir/{result.resource_type}/{result.resource_id}"},
    )


@router.post("/Observation", status_code=201)
def post_observation(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> JSONResponse:
    """A device reading; 201 with any alerts raised, 200 when it was already received."""
    return _receive(request, body, session, clock, principal, expected="Observation")


@router.post("/QuestionnaireResponse", status_code=201)
def post_questionnaire_response(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> JSONResponse:
    """A check-in answered in a form or app, validated against its Questionnaire."""
    return _receive(request, body, session, clock, principal, expected="QuestionnaireResponse")


@router.post("")
def post_bundle(
    body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> JSONResponse:
    """A batch (per-entry status) or transaction (all or nothing) Bundle of inputs."""
    reply, _results = intake.receive_bundle(
        session,
        body,
        clock=clock,
        principal=principal,
        source="api-bundle",
        patient_guard=_guard(session, principal),
    )
    return JSONResponse(reply, media_type=FHIR_JSON)


@router.get("/Questionnaire")
def list_questionnaires(principal: SubmitterDep) -> dict[str, Any]:
    """The check-ins careloop can receive, as a FHIR searchset Bundle."""
    questionnaires = default_catalog().distinct()
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(questionnaires),
        "entry": [{"resource": q} for q in questionnaires],
    }
