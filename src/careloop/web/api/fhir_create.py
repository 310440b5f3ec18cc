"""Creating an Observation or QuestionnaireResponse at ``/fhir``: the feedback loop run in
a transaction (store, evaluate, raise alerts) or in the process's group-commit batch, the
reply a FHIR client expects (``Location``, ``ETag``, ``Prefer``), and a refused input
written to the event log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.careteam import intake, intake_checkins
from careloop.careteam.intake_batch import IntakeBatcher
from careloop.careteam.intake_many import Submitted
from careloop.clock import Clock
from careloop.db import session_scope
from careloop.errors import InvalidInput, NotFound
from careloop.events import EventKind
from careloop.feedback.catalog import default_catalog
from careloop.feedback.service import record_rejection
from careloop.fhir import access
from careloop.fhir.outcome import PreconditionFailed, issue, outcome
from careloop.fhir.params import parse_query
from careloop.fhir.search import read, search
from careloop.fhir.versions import etag, with_meta
from careloop.fhirdata.references import reference_of
from careloop.records.resources import resolve_patient_reference
from careloop.security.principal import Principal
from careloop.web.api.fhir_http import FhirResponse, base_url
from careloop.web.deps import get_runtime


def patient_guard(session: Session, principal: Principal) -> Callable[[dict[str, Any]], None]:
    def check(resource: dict[str, Any]) -> None:
        access.check_write(principal, str(resource.get("resourceType")))
        if principal.is_staff:
            return
        ref = reference_of(resource.get("subject"))
        if ref is None:
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
    # The header is a search's query string: a client percent-encodes it as it would a URL
    # (``identifier=urn%3Ameter%3A42%7Cr-1``), and an undecoded value matches nothing.
    query = parse_query(resource_type, parse_qsl(criteria, keep_blank_values=True))
    if not query.criteria:
        # Without a search parameter the criteria match everything in reach: the one resource
        # there would be returned as "already there" and the new one dropped.
        raise InvalidInput(
            "If-None-Exist: the criteria name no search parameter", field="If-None-Exist"
        )
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


def created_reply(
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


def _require_type(body: dict[str, Any], expected: str) -> None:
    """Refuse a body of another type before it waits for a batch or opens a transaction."""
    if body.get("resourceType") != expected:
        raise InvalidInput(f"resourceType: expected {expected}", field="resourceType")


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
    _require_type(body, expected)
    batcher = _batcher(request)
    if batcher is None:
        return _create_in(request, body, session, clock, principal, expected=expected)
    session.commit()  # hold nothing (a token row, a connection) while waiting for the batch
    item = None
    if principal.is_staff and "if-none-exist" not in request.headers:
        access.check_write(principal, expected)  # all ``patient_guard`` asks of staff
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
        outcomes = intake_checkins.receive_inputs(
            session, [submitted for _, submitted in items], clock=clock
        )
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
                reply = created_reply(
                    request,
                    resource,
                    status=status,
                    alerts=done.result.new_alerts,
                    advice=done.result.advice,
                )
                answers.append((True, reply))
        return answers

    return run


INTAKE_TIMEOUT = 60.0  # seconds a request waits for its batch, as ``IntakeBatcher.submit``


async def create_quickly(
    request: Request, body: dict[str, Any], clock: Clock, principal: Principal, *, expected: str
) -> FhirResponse:
    """:func:`_create` for the intake routes: a staff post with the batcher running is
    handed to the next batch and awaited on the event loop (no worker thread, no session);
    anything else runs ``_create`` on a worker thread in a transaction of its own."""
    _require_type(body, expected)
    batcher = _batcher(request)
    if batcher is None or not principal.is_staff or "if-none-exist" in request.headers:
        return await run_in_threadpool(_create_alone, request, body, clock, principal, expected)
    access.check_write(principal, expected)  # all ``patient_guard`` asks of staff
    future = batcher.enqueue(
        lambda batch: _create_in(request, body, batch, clock, principal, expected=expected),
        item=(request, Submitted(body, principal, "fhir")),
    )
    reply: FhirResponse = await asyncio.wait_for(asyncio.wrap_future(future), INTAKE_TIMEOUT)
    return reply


def _create_alone(
    request: Request, body: dict[str, Any], clock: Clock, principal: Principal, expected: str
) -> FhirResponse:
    with session_scope(get_runtime(request).sessions) as session:
        return _create(request, body, session, clock, principal, expected=expected)


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
    patient_guard(session, principal)(body)
    existing = _existing(request, expected, session, principal)
    if existing is not None:
        return created_reply(request, existing, status=200, alerts=[])
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
    return created_reply(
        request, resource, status=status, alerts=result.new_alerts, advice=result.advice
    )
