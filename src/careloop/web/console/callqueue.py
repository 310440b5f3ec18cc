"""The call-queue page: open call tasks by expected benefit per staff minute, with the reason.

Presentation only: the order and the sentences come from
:func:`careloop.careteam.callqueue.ranked_call_queue`, the same as ``GET /api/call-queue``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from careloop.careteam.callqueue import ranked_call_queue
from careloop.security.principal import Principal
from careloop.web.api import careteam as careteam_api
from careloop.web.console.pages import page_viewer, render
from careloop.web.console.worklist import item_views
from careloop.web.deps import ClockDep, SessionDep

router = APIRouter(include_in_schema=False)


@router.get("/console/call-queue", response_class=HTMLResponse)
def call_queue_page(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    principal = page_viewer(request, session, clock, may="worklist:read", what="the call queue")
    if not isinstance(principal, Principal):
        return principal
    now = clock.now()
    queue = ranked_call_queue(session, now=now)
    entries = [q.entry for q in queue]
    careteam_api.audit_worklist_read(session, clock=clock, principal=principal, entries=entries)
    views = item_views(session, entries, principal=principal, now=now)
    return render(
        request,
        "console/call_queue.html",
        {"section": "call-queue", "rows": list(zip(queue, views, strict=True))},
        principal=principal,
    )
