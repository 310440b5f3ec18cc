"""The FHIR deliveries page: Subscriptions (and the EHR push) with their state, and the
dead letters — notifications that ran out of attempts — each with a button to send it again.

For the operator (``jobs:read``, as the jobs page): it shows ids, topics, references such as
``Flag/alert-7`` and the HTTP status or error class of the last attempt, never a resource.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from careloop.fhir.delivery import dead_letters, retry_dead
from careloop.models import FhirSubscription
from careloop.security.principal import Principal
from careloop.web.console.pages import (
    ConsoleView,
    after_post,
    viewer,
)
from careloop.web.deps import SessionDep, require

router = APIRouter(include_in_schema=False)
PAGE = "/console/fhir-deliveries"


@router.get(PAGE, response_class=HTMLResponse)
def deliveries_page(
    view: Annotated[ConsoleView, viewer("jobs:read", what="FHIR deliveries")],
) -> Response:
    subscriptions = view.session.scalars(
        select(FhirSubscription).order_by(FhirSubscription.id)
    ).all()
    return view.render(
        "console/fhir_deliveries.html",
        {
            "section": "fhir",
            "subscriptions": subscriptions,
            "dead": dead_letters(view.session),
            "retried": view.request.query_params.get("retried"),
        },
    )


@router.post(PAGE + "/{note_id}/retry")
def retry(
    note_id: int,
    request: Request,
    session: SessionDep,
    principal: Annotated[Principal, Depends(require("jobs:read"))],
) -> Response:
    """Queue a dead letter again; the ``fhir-subscriptions`` job sends it on its next run."""
    found = retry_dead(session, note_id)
    return after_post(request, f"{PAGE}?retried={note_id if found else 'none'}")
