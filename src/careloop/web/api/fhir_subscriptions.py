"""``/fhir/Subscription``: create, read, search, delete and ``$status`` of topic-based
Subscriptions (R4 backport). Registered before ``web.api.fhir``, whose generic
``/fhir/{type}`` routes would otherwise take these paths.

Delivery is not done here: the ``fhir-subscriptions`` job sends the handshake, the events
and the heartbeats (``fhir.delivery``), so a slow endpoint never holds up a request.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request

from careloop.errors import InvalidInput
from careloop.fhir import subscriptions
from careloop.fhir.topics import topic_for
from careloop.models import FhirSubscription
from careloop.web.api.fhir_http import (
    BodyDep,
    FhirResponse,
    base_url,
    negotiate_format,
    request_url,
)
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep, get_runtime

router = APIRouter(
    prefix="/fhir/Subscription",
    tags=["fhir-subscriptions"],
    dependencies=[Depends(negotiate_format)],
)

SEARCH = {
    "_id": lambda r, v: r.id == v,
    "status": lambda r, v: r.status == v,
    "criteria": lambda r, v: r.topic == v or r.topic.endswith("/" + v),
    "url": lambda r, v: r.endpoint == v,
    "type": lambda r, v: v == "rest-hook",
}


@router.post("", status_code=201)
def create_subscription(
    request: Request, body: BodyDep, session: SessionDep, clock: ClockDep, principal: PrincipalDep
) -> FhirResponse:
    """201 with the Subscription (``requested``; the job's handshake makes it ``active``)."""
    subscriptions.check_manage(principal, topic_for(str(body.get("criteria") or "")))
    wanted = subscriptions.parse_subscription(body, get_runtime(request).settings.fhir)
    subscriptions.check_manage(principal, wanted.topic)
    row = subscriptions.create(session, wanted, clock=clock, principal=principal)
    resource = subscriptions.as_resource(row)
    location = f"{base_url(request)}/Subscription/{row.id}"
    return FhirResponse(resource, status_code=201, headers={"Location": location})


def _matches(row: FhirSubscription, pairs: list[tuple[str, str]]) -> bool:
    for name, value in pairs:
        test = SEARCH.get(name)
        if test is None:
            raise InvalidInput(f"{name}: not a search parameter of Subscription", field=name)
        if not any(test(row, v) for v in value.split(",")):
            return False
    return True


@router.get("")
def search_subscriptions(
    request: Request, session: SessionDep, clock: ClockDep, principal: PrincipalDep
) -> FhirResponse:
    """A ``searchset`` of the subscriptions (``_id``, ``status``, ``criteria``, ``url``)."""
    subscriptions.check_manage(principal)
    pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]
    rows = [r for r in subscriptions.listed(session) if _matches(r, pairs)]
    base = base_url(request)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"{base}/Subscription/{r.id}",
            "resource": subscriptions.as_resource(r),
            "search": {"mode": "match"},
        }
        for r in rows
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": clock.now().isoformat().replace("+00:00", "Z"),
        "total": len(entries),
        "link": [{"relation": "self", "url": request_url(request)}],
        "entry": entries,
    }
    return FhirResponse(bundle)


@router.get("/{subscription_id}")
def read_subscription(
    subscription_id: str, session: SessionDep, principal: PrincipalDep
) -> FhirResponse:
    subscriptions.check_manage(principal)
    return FhirResponse(subscriptions.as_resource(subscriptions.get(session, subscription_id)))


@router.get("/{subscription_id}/$status")
def subscription_status(
    request: Request, subscription_id: str, session: SessionDep, principal: PrincipalDep
) -> FhirResponse:
    """The backport's ``$status``: a Parameters with the status and the event count."""
    subscriptions.check_manage(principal)
    row = subscriptions.get(session, subscription_id)
    reference = f"{base_url(request)}/Subscription/{row.id}"
    parameters = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "subscription", "valueReference": {"reference": reference}},
            {"name": "topic", "valueCanonical": row.topic},
            {"name": "status", "valueCode": row.status},
            {"name": "type", "valueCode": "query-status"},
            {"name": "events-since-subscription-start", "valueString": str(row.events)},
        ],
    }
    return FhirResponse(parameters)


@router.delete("/{subscription_id}", status_code=204)
def delete_subscription(
    subscription_id: str, session: SessionDep, principal: PrincipalDep
) -> FhirResponse:
    """Ends delivery at once; notifications not yet sent are dropped with it."""
    row = subscriptions.get(session, subscription_id)
    subscriptions.check_manage(principal, topic_for(row.topic))
    subscriptions.delete(session, subscription_id)
    return FhirResponse(None, status_code=204)
