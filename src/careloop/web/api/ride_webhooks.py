"""The ride broker's status webhook (``access.ride_webhooks``): signed JSON in, 200 out.

403 when the signature or its timestamp is wrong (429 past the ``webhook`` burst of such
refusals from one address; a signed event is never rate-limited), 422 naming the field of a
malformed event, 404 for a ride careloop never requested; the broker retries anything but a
2xx.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from careloop.access.ride_webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    apply_event,
    parse_event,
    verify_signature,
)
from careloop.audit import AuditAction, Auditor, Purpose
from careloop.errors import PermissionDenied
from careloop.models import AccessRide
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.web.deps import ClockDep, SessionDep, get_runtime, refuse_unsigned_webhook

RIDE_BROKER = Principal(actor="ride-broker", role=Role.COORDINATOR, source="webhook")
"""Who changes a patient's ride when the broker reports on it (a signed event)."""

# Signed events are never rate-limited; refused ones spend a ``webhook`` token (429 after).
router = APIRouter(prefix="/webhooks", tags=["webhooks"])


async def signed_body(request: Request, clock: ClockDep) -> bytes:
    """The raw body, once its signature proves the broker sent it (403 otherwise)."""
    body = await request.body()
    try:
        verify_signature(
            get_runtime(request).settings.access.rides,
            timestamp=request.headers.get(TIMESTAMP_HEADER),
            signature=request.headers.get(SIGNATURE_HEADER),
            body=body,
            now=clock.now(),
        )
    except PermissionDenied:
        refuse_unsigned_webhook(request)
        raise
    return body


@router.post("/rides", summary="Ride status from the transport broker (signed)")
def ride_status(
    request: Request,
    body: Annotated[bytes, Depends(signed_body)],
    session: SessionDep,
    clock: ClockDep,
) -> dict[str, Any]:
    settings = get_runtime(request).settings
    outcome = apply_event(session, event=parse_event(body), clock=clock, settings=settings)
    ride = session.get(AccessRide, outcome.ride_id) if outcome.applied else None
    if ride is not None:
        Auditor(session, clock, RIDE_BROKER, Purpose.TREATMENT)(
            AuditAction.UPDATE,
            "ride",
            [ride.patient_id],
            detail={"ride": ride.id, "status": outcome.status},
        )
    return {"ride": outcome.ride_id, "status": outcome.status, "applied": outcome.applied}
