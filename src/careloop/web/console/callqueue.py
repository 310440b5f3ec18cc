"""The call-queue page: open call tasks by expected benefit per staff minute, with the reason.

Presentation only: the order and the sentences come from
:func:`careloop.careteam.callqueue.call_queue_page`, a page of the same queue as
``GET /api/call-queue``. One page of :data:`~careloop.web.console.worklist.PAGE_SIZE` rows is
read, rendered, audited and given its patients' names (all of them was 888 kB of HTML at
10,000 patients).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from careloop.careteam.callqueue import call_queue_page as queue_page
from careloop.web.api import careteam as careteam_api
from careloop.web.console.pages import ConsoleView, PageNumber, viewer
from careloop.web.console.worklist import PAGE_SIZE, item_views, page_links

router = APIRouter(include_in_schema=False)


@router.get("/console/call-queue", response_class=HTMLResponse)
def call_queue_page(
    view: Annotated[ConsoleView, viewer("worklist:read", what="the call queue")],
    page: PageNumber,
) -> Response:
    now = view.clock.now()
    shown, total = queue_page(view.session, now=now, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    entries = [q.entry for q in shown]
    careteam_api.audit_worklist_read(
        view.session, clock=view.clock, principal=view.principal, entries=entries
    )
    views = item_views(
        view.session, entries, principal=view.principal, now=now, teams=view.team_title
    )
    return view.render(
        "console/call_queue.html",
        {
            "section": "call-queue",
            "rows": list(zip(shown, views, strict=True)),
            "total": total,
            "first": page * PAGE_SIZE + 1,
            "pages": page_links(
                "/console/call-queue", {}, page=page, shown=len(shown), matching=total
            ),
        },
    )
