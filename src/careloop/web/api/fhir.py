"""The FHIR R4 REST server at ``/fhir``: capability, read, vread, search, create, batch.

Everything answers ``application/fhir+json``; every 4xx is an ``OperationOutcome`` naming
the offending element in ``expression`` (``web.errors`` answers so for any path under
/fhir, after the request's transaction has rolled back). Creating an Observation or
QuestionnaireResponse runs the feedback loop in the request's transaction (store, evaluate,
raise alerts), as ``careteam.intake`` does for every other way in; a refused input is also
written to the event log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from careloop.audit import Auditor, Purpose
from careloop.careteam import intake
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound, PermissionDenied
from careloop.fhir import access
from careloop.fhir.bundles import searchset
from careloop.fhir.capability import CREATABLE, capability_statement
from careloop.fhir.params import SEARCH_PARAMS, parse_query
from careloop.fhir.search import read, search
from careloop.fhir.versions import etag, with_meta
from careloop.security.principal import Principal
from careloop.web.api.fhir_create import create_quickly, created_reply, patient_guard
from careloop.web.api.fhir_http import BodyDep, FhirResponse, base_url, negotiate_format
from careloop.web.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    authenticate_quickly,
)

router = APIRouter(prefix="/fhir", tags=["fhir"], dependencies=[Depends(negotiate_format)])


def _known_type(resource_type: str) -> None:
    if resource_type not in SEARCH_PARAMS:
        raise NotFound(f"resource type {resource_type[:64]!r} is not served here")


def _audit_read(
    session: Session, clock: Clock, principal: Principal, patient_ids: set[str], what: str
) -> None:
    purpose = Purpose.TREATMENT if principal.is_staff else Purpose.PATIENT_REQUEST
    Auditor(session, clock, principal, purpose).read(f"fhir:{what}", sorted(patient_ids))


@router.get("/metadata")
def metadata(request: Request, clock: ClockDep) -> FhirResponse:
    """The CapabilityStatement (open, as R4 expects, so clients can discover the server)."""
    base = base_url(request)
    return FhirResponse(
        capability_statement(base_url=base, token_url=f"{base}/auth/token", now=clock.now())
    )


def _search(
    request: Request,
    resource_type: str,
    session: Session,
    clock: Clock,
    principal: Principal,
    pairs: list[tuple[str, str]],
) -> FhirResponse:
    _known_type(resource_type)
    access.check_read(principal, resource_type)
    query = parse_query(resource_type, pairs)
    result = search(session, query, allowed_patients=access.patients_in_reach(principal))
    _audit_read(session, clock, principal, result.patient_ids, resource_type)
    return FhirResponse(searchset(result, query, base_url=base_url(request), now=clock.now()))


@router.get("/{resource_type}")
def search_type(
    request: Request,
    resource_type: str,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> FhirResponse:
    """Search: a ``searchset`` Bundle, paged by ``_count``/``_offset`` with ``next`` links."""
    pairs = list(request.query_params.multi_items())
    return _search(request, resource_type, session, clock, principal, pairs)


@router.post("/{resource_type}/_search")
async def search_type_by_post(
    request: Request,
    resource_type: str,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> FhirResponse:
    """Search with the criteria in a form body, so names and birth dates stay out of URLs
    (and out of any proxy's access log)."""
    form = await request.form()
    pairs = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    pairs += list(request.query_params.multi_items())
    return _search(request, resource_type, session, clock, principal, pairs)


def _read(
    session: Session, principal: Principal, resource_type: str, resource_id: str
) -> dict[str, Any]:
    _known_type(resource_type)
    access.check_read(principal, resource_type)
    found = read(session, resource_type, resource_id)
    if found is None:
        raise NotFound(f"no {resource_type} with this id")
    if resource_type != "Questionnaire":
        access.check_patient(principal, found.patient_id)
    return {"item": found, "resource": with_meta(found.resource, last_updated=found.last_updated)}


def _read_audited(
    session: Session, clock: Clock, principal: Principal, resource_type: str, resource_id: str
) -> dict[str, Any]:
    """One resource by type and id (:func:`_read`), its read audited."""
    got = _read(session, principal, resource_type, resource_id)
    patient = got["item"].patient_id
    _audit_read(session, clock, principal, {patient} if patient else set(), resource_type)
    resource: dict[str, Any] = got["resource"]
    return resource


@router.get("/{resource_type}/{resource_id}")
def read_resource(
    request: Request,
    resource_type: str,
    resource_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> FhirResponse:
    """Read, with ``ETag`` = ``W/"<versionId>"``; ``If-None-Match`` answers 304."""
    resource = _read_audited(session, clock, principal, resource_type, resource_id)
    tag = etag(resource)
    headers = {"ETag": tag, "Last-Modified": resource["meta"].get("lastUpdated", "")}
    if request.headers.get("if-none-match") == tag:
        return FhirResponse(None, status_code=304, headers=headers)
    return FhirResponse(resource, headers=headers)


@router.get("/{resource_type}/{resource_id}/_history/{version}")
def read_version(
    resource_type: str,
    resource_id: str,
    version: str,
    session: SessionDep,
    clock: ClockDep,
    principal: PrincipalDep,
) -> FhirResponse:
    """vread of the current version (careloop keeps no history: older ids answer 404)."""
    resource = _read_audited(session, clock, principal, resource_type, resource_id)
    if resource["meta"]["versionId"] != version:
        # The read's audit event goes with the transaction this 404 rolls back.
        raise NotFound("this version is not kept (only the current version is)")
    return FhirResponse(resource, headers={"ETag": etag(resource)})


async def _may_submit(principal: PrincipalDep) -> Principal:
    """Patients and caregivers submit their own; staff may enter on a patient's behalf."""
    if not any(principal.can(p) for p in ("readings:write", "checkins:write", "patients:write")):
        raise PermissionDenied(f"role {principal.role} may not submit readings or check-ins")
    return principal


SubmitterDep = Annotated[Principal, Depends(_may_submit)]


async def _may_submit_quickly(
    principal: Annotated[Principal, Depends(authenticate_quickly)],
) -> Principal:
    """``_may_submit`` after ``authenticate_quickly`` (the intake routes)."""
    return await _may_submit(principal)


QuickSubmitterDep = Annotated[Principal, Depends(_may_submit_quickly)]


@router.post("/Observation", status_code=201)
async def create_observation(
    request: Request, body: BodyDep, clock: ClockDep, principal: QuickSubmitterDep
) -> FhirResponse:
    """A device reading: 201 with the Observation as stored, 200 when already received."""
    return await create_quickly(request, body, clock, principal, expected="Observation")


@router.post("/QuestionnaireResponse", status_code=201)
async def create_questionnaire_response(
    request: Request, body: BodyDep, clock: ClockDep, principal: QuickSubmitterDep
) -> FhirResponse:
    """A check-in answered in a form or app, validated against its Questionnaire."""
    return await create_quickly(request, body, clock, principal, expected="QuestionnaireResponse")


@router.post("/MedicationAdministration", status_code=201)
def create_medication_administration(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: PrincipalDep
) -> FhirResponse:
    """A dose given or taken (staff or a device's system token): stored, and the dose counts
    as confirmed for the patient's reminders (``medications.administrations``)."""
    from careloop.medications.administrations import receive_administration

    if not principal.is_staff or not principal.can("patients:write"):
        raise PermissionDenied("only staff or a device token may post MedicationAdministration")
    if body.get("resourceType") != "MedicationAdministration":
        raise InvalidInput("resourceType: expected MedicationAdministration", field="resourceType")
    access.check_write(principal, "MedicationAdministration")
    done = receive_administration(session, body, clock=clock, principal=principal)
    resource = with_meta(done.resource, last_updated=clock.now())
    return created_reply(request, resource, status=201, alerts=[])


@router.post("")
def post_bundle(
    body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> FhirResponse:
    """A batch (per-entry status) or transaction (all or nothing) Bundle of inputs."""
    reply, _results = intake.receive_bundle(
        session,
        body,
        clock=clock,
        principal=principal,
        source="fhir-bundle",
        patient_guard=patient_guard(session, principal),
    )
    return FhirResponse(reply)


@router.api_route(
    "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False
)
def not_served(path: str, principal: PrincipalDep) -> FhirResponse:
    """Anything else under /fhir: an OperationOutcome, not a bare 404 (after sign-in, so
    probing reveals nothing)."""
    raise NotFound("no such FHIR endpoint or interaction")


__all__ = ["CREATABLE", "router"]
