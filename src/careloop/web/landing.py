"""The root page: where a new user lands on ``/`` (a JSON 404 told them nothing).

It links to the care-team console, the patient portal, the API documentation and health.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from careloop import __version__
from careloop.web.console.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
def landing(request: Request) -> HTMLResponse:
    return render(request, "landing.html", {"version": __version__})
