"""The FHIR R4 REST server at ``/fhir``: capability, read, vread, search, create, batch.

Everything answers ``application/fhir+json``; every 4xx is an ``OperationOutcome`` naming
the offending element in ``expression`` (``web.errors`` answers so for any path under
/fhir, after the request's transaction has rolled back). Creating an Observation or
QuestionnaireResponse runs the feedback loop in the request's transaction (store, evaluate,
raise alerts), as ``careteam.intake`` does for every other way in; a refused input is also
written to the event log.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from careloop.audit import Purpose, audit_read
from careloop.careteam import intake, intake_checkins, intake_many
from careloop.careteam.intake_batch import IntakeBatcher
from careloop.careteam.intake_many import Submitted
from careloop.clock import Clock
from careloop.errors import InvalidInput, NotFound, PermissionDenied
from careloop.events import EventKind
from careloop.feedback.catalog import default_catalog
from careloop.feedback.service import record_rejection
from careloop.fhir import access
from careloop.fhir.bundles import searchset
from careloop.fhir.capability import CREATABLE, capability_statement
from careloop.fhir.outcome import PreconditionFailed, issue, outcome
from careloop.fhir.params import SEARCH_PARAMS, parse_query
from careloop.fhir.search import read, search
from careloop.fhir.versions import etag, with_meta
from careloop.records.resources import resolve_patient_reference
from careloop.security.principal import Principal
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep, get_runtime

FHIR_JSON = "application/fhir+json"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return b"" if content is None else orjson.dumps(content)


router = APIRouter(prefix="/fhir", tags=["fhir"])


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


def _known_type(resource_type: str) -> None:
    if resource_type not in SEARCH_PARAMS:
        raise NotFound(f"resource type {resource_type[:64]!r} is not served here")


def _audit_read(
    session: Session, clock: Clock, principal: Principal, patient_ids: set[str], what: str
) -> None:
    audit_read(
        session,
        clock=clock,
        principal=principal,
        resource=f"fhir:{what}",
        purpose=Purpose.TREATMENT if principal.is_staff else Purpose.PATIENT_REQUEST,
        patient_ids=sorted(patient_ids),
    )


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
    got = _read(session, principal, resource_type, resource_id)
    resource = got["resource"]
    patient = got["item"].patient_id
    _audit_read(session, clock, principal, {patient} if patient else set(), resource_type)
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
    got = _read(session, principal, resource_type, resource_id)
    resource = got["resource"]
    if resource["meta"]["versionId"] != version:
        raise NotFound("this version is not kept (only the current version is)")
    patient = got["item"].patient_id
    _audit_read(session, clock, principal, {patient} if patient else set(), resource_type)
    return FhirResponse(resource, headers={"ETag": etag(resource)})


async def _read_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", field="body")
    return body


BodyDep = Annotated[dict[str, Any], Depends(_read_body)]


def _may_submit(principal: PrincipalDep) -> Principal:
    """Patients and caregivers submit their own; staff may enter on a patient's behalf."""
    if not any(principal.can(p) for p in ("readings:write", "checkins:write", "patients:write")):
        raise PermissionDenied(f"role {principal.role} may not submit readings or check-ins")
    return principal


SubmitterDep = Annotated[Principal, Depends(_may_submit)]


def _guard(session: Session, principal: Principal) -> Callable[[dict[str, Any]], None]:
    def check(resource: dict[str, Any]) -> None:
        access.check_write(principal, str(resource.get("resourceType")))
        if principal.is_staff:
            return
        subject = resource.get("subject")
        ref = subject.get("reference") if isinstance(subject, dict) else None
        if not isinstance(ref, str):
            raise InvalidInput("subject: a Patient reference is required", field="subject")
        owner = resolve_patient_reference(session, ref)
        if owner is None or not principal.may_act_for(owner):
            raise NotFound("no such patient")

    return check


def _existing(
    request: Request, resource_type: str, session: Session, principal: Principal
) -> dict[str, Any] | None:
    """``If-None-Exist``: the one resource matching the criteria, None when there is none."""
    criteria = request.headers.get("if-none-exist")
    if not criteria:
        return None
    pairs = [tuple(p.split("=", 1)) for p in criteria.split("&") if "=" in p]
    query = parse_query(resource_type, [(k, v) for k, v in pairs])
    found = search(session, query, allowed_patients=access.patients_in_reach(principal))
    if found.total > 1:
        raise PreconditionFailed("If-None-Exist: the criteria match more than one resource")
    if found.total == 1:
        item = found.matches[0]
        return with_meta(item.resource, last_updated=item.last_updated)
    return None


ADVICE_SYSTEM = "https://careloop.dev/fhir/CodeSystem/patient-advice"


def _advice_issue(message: str) -> dict[str, Any]:
    """What the patient must be told now (``content/advice``): an app renders it in the
    patient's language; severity warning so it is not mistaken for a plain acknowledgement."""
    entry = issue(
        f"tell the patient now: advice {message}", code="informational", severity="warning"
    )
    entry["details"] = {"coding": [{"system": ADVICE_SYSTEM, "code": message}]}
    return entry


def _created(
    request: Request,
    resource: dict[str, Any],
    *,
    status: int,
    alerts: list[int],
    advice: list[str] | None = None,
) -> FhirResponse:
    location = f"{base_url(request)}/{resource['resourceType']}/{resource['id']}"
    headers = {
        "Location": f"{location}/_history/{resource['meta']['versionId']}",
        "ETag": etag(resource),
    }
    prefer = request.headers.get("prefer", "")
    if "return=minimal" in prefer:
        return FhirResponse(None, status_code=status, headers=headers)
    if "return=OperationOutcome" in prefer:
        notes = [_advice_issue(m) for m in advice or []] + [
            issue(f"alert raised: Flag/alert-{a}", code="informational", severity="information")
            for a in alerts
        ] or [issue("accepted", code="informational", severity="information")]
        return FhirResponse(outcome(*notes), status_code=status, headers=headers)
    return FhirResponse(resource, status_code=status, headers=headers)


def _create(
    request: Request,
    body: dict[str, Any],
    session: Session,
    clock: Clock,
    principal: Principal,
    *,
    expected: str,
) -> FhirResponse:
    """Create in the request's transaction, or in the process's next batch (group commit)."""
    if body.get("resourceType") != expected:
        raise InvalidInput(f"resourceType: expected {expected}", field="resourceType")
    batcher = _batcher(request)
    if batcher is None:
        return _create_in(request, body, session, clock, principal, expected=expected)
    session.commit()  # hold nothing (a token row, a connection) while waiting for the batch
    item = None
    if principal.is_staff and "if-none-exist" not in request.headers:
        access.check_write(principal, expected)  # all ``_guard`` asks of staff
        item = (request, Submitted(body, principal, "fhir"))
    return batcher.submit(
        lambda batch: _create_in(request, body, batch, clock, principal, expected=expected),
        item=item,
    )


def _rejected(
    session: Session, exc: InvalidInput, resource_type: str | None, clock: Clock, actor: str
) -> FhirResponse:
    """Record a refused reading or check-in (the care team sees it) and answer 422 naming the
    field: the one answer of the request path and of the batch path alike."""
    observation = resource_type == "Observation"
    record_rejection(
        session,
        kind=EventKind.READING_REJECTED if observation else EventKind.CHECKIN_REJECTED,
        reason=str(exc),
        field=exc.field,
        clock=clock,
        actor=actor,
        details={"channel": "fhir"},
    )
    body_out = outcome(issue(str(exc), code="invalid", expression=exc.field))
    return FhirResponse(body_out, status_code=422)


def _bulk(clock: Clock) -> Callable[[Session, list[Any]], list[tuple[bool, Any] | None]]:
    """The batcher's set-wise path for staff-posted Observations (``careteam.intake_many``),
    answering each as ``_create_in`` would: 201/200 with the resource, or 422 recorded."""

    def run(session: Session, items: list[Any]) -> list[tuple[bool, Any] | None]:
        outcomes = _set_wise(session, [submitted for _, submitted in items], clock)
        answers: list[tuple[bool, Any] | None] = []
        for (request, submitted), done in zip(items, outcomes, strict=True):
            if done is None:
                answers.append(None)
            elif isinstance(done, InvalidInput):
                kind = submitted.resource.get("resourceType")
                rejected = _rejected(session, done, kind, clock, submitted.principal.actor)
                answers.append((True, rejected))
            else:
                resource = with_meta(done.resource, last_updated=done.last_updated)
                status = 200 if done.result.status == "duplicate" else 201
                reply = _created(
                    request,
                    resource,
                    status=status,
                    alerts=done.result.new_alerts,
                    advice=done.result.advice,
                )
                answers.append((True, reply))
        return answers

    return run


def _set_wise(session: Session, inputs: list[Submitted], clock: Clock) -> list[intake_many.Outcome]:
    """Readings through ``intake_many``, check-ins through ``intake_checkins``, in order."""
    readings = [i for i, s in enumerate(inputs) if s.resource.get("resourceType") == "Observation"]
    checkins = sorted(set(range(len(inputs))) - set(readings))
    outcomes: list[intake_many.Outcome] = [None] * len(inputs)
    for indexes, take in (
        (readings, intake_many.receive_observations),
        (checkins, intake_checkins.receive_checkins),
    ):
        if indexes:
            done = take(session, [inputs[i] for i in indexes], clock=clock)
            for index, outcome_ in zip(indexes, done, strict=True):
                outcomes[index] = outcome_
    return outcomes


def _batcher(request: Request) -> IntakeBatcher | None:
    """The process's intake batcher (PostgreSQL, ``web.intake_batch_ms`` > 0), made on first use."""
    state = request.app.state
    if not hasattr(state, "intake_batcher"):
        runtime = get_runtime(request)
        window = runtime.settings.web.intake_batch_ms
        postgres = runtime.engine.dialect.name == "postgresql"
        state.intake_batcher = (
            IntakeBatcher(runtime.transaction, window=window / 1000, bulk=_bulk(runtime.clock))
            if postgres and window
            else None
        )
    batcher: IntakeBatcher | None = state.intake_batcher
    return batcher


def _create_in(
    request: Request,
    body: dict[str, Any],
    session: Session,
    clock: Clock,
    principal: Principal,
    *,
    expected: str,
) -> FhirResponse:
    _guard(session, principal)(body)
    existing = _existing(request, expected, session, principal)
    if existing is not None:
        return _created(request, existing, status=200, alerts=[])
    try:
        with session.begin_nested():
            result = intake.receive_resource(
                session,
                body,
                clock=clock,
                principal=principal,
                source="fhir",
                catalog=default_catalog(),
            )
    except InvalidInput as exc:
        # Answered, not raised: the refusal is recorded in this (committed) transaction.
        return _rejected(session, exc, expected, clock, principal.actor)
    stored = read(session, result.resource_type, result.resource_id)
    if stored is None:  # pragma: no cover - intake stores before returning
        raise NotFound("the resource was not stored")
    resource = with_meta(stored.resource, last_updated=stored.last_updated)
    status = 200 if result.status == "duplicate" else 201
    return _created(
        request, resource, status=status, alerts=result.new_alerts, advice=result.advice
    )


@router.post("/Observation", status_code=201)
def create_observation(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> FhirResponse:
    """A device reading: 201 with the Observation as stored, 200 when already received."""
    return _create(request, body, session, clock, principal, expected="Observation")


@router.post("/QuestionnaireResponse", status_code=201)
def create_questionnaire_response(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: SubmitterDep
) -> FhirResponse:
    """A check-in answered in a form or app, validated against its Questionnaire."""
    return _create(request, body, session, clock, principal, expected="QuestionnaireResponse")


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
    return _created(request, resource, status=201, alerts=[])


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
        patient_guard=_guard(session, principal),
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
