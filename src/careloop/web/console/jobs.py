"""The jobs page: each periodic job's last run, next run and failures (issue 19, item 3).

The same rows as ``careloop jobs list`` (:func:`careloop.compose.jobs.job_status`), for the
operator who watches the console rather than a terminal. Errors are shown as their class name
only, as stored: a job's message may quote data.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from careloop.compose.jobs import job_status
from careloop.web.console.pages import ConsoleView, viewer

router = APIRouter(include_in_schema=False)


@router.get("/console/jobs", response_class=HTMLResponse)
def jobs_page(
    view: Annotated[ConsoleView, viewer("jobs:read", what="periodic jobs")],
) -> Response:
    now = view.clock.now()
    rows = job_status(view.session)
    for row in rows:
        # Overdue by more than a minute: no worker has picked it up (none running, or stuck).
        row["overdue"] = not row["running_on"] and row["next_run_at"] < now - timedelta(minutes=1)
    return view.render("console/jobs.html", {"section": "jobs", "jobs": rows, "now": now})
