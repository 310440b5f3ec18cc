"""The content page: messages, their variants with measured reading grade and approval state.

The grade is the content domain's own lint of each stored version, kept per version
(:mod:`careloop.content.lint_cache`: linting every version of a view took seconds); approval
is the content API's endpoint (a clinician other than the draft's author), so the rule lives
in one place.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from careloop.content import service as content_service
from careloop.content.lint_cache import version_reports
from careloop.errors import NotFound
from careloop.web.api import content as content_api
from careloop.web.console.pages import (
    ConsoleView,
    after_post,
    viewer,
)
from careloop.web.deps import Acting, acting

router = APIRouter(include_in_schema=False)


@router.get("/console/content", response_class=HTMLResponse)
def content_page(
    view: Annotated[ConsoleView, viewer("content:read", what="the message library")],
    message: str | None = None,
    language: str | None = None,
) -> Response:
    messages = content_service.list_messages(view.session)
    chosen = message or (messages[0].name if messages else None)
    versions: list[dict[str, Any]] = []
    if chosen is not None:
        try:
            current = content_service.get_message(view.session, chosen)
        except NotFound:
            current = None
        if current is not None:
            # The stored message (its title, fields) lints the stored versions.
            rows = content_service.list_versions(
                view.session, message=current.name, language=language or None
            )
            versions = [
                {"row": row, "lint": lint}
                for row, lint in zip(rows, version_reports(current, rows), strict=True)
            ]
    return view.render(
        "console/content.html",
        {
            "section": "content",
            "messages": messages,
            "chosen": chosen,
            "language": language or "",
            "versions": versions,
        },
    )


@router.post("/console/content/versions/{version_id}/approve")
def approve_version(
    version_id: int,
    request: Request,
    act: Annotated[Acting, acting("content:approve")],
) -> Response:
    row = content_api.approve_version(version_id, act)
    return after_post(request, f"/console/content?message={row.message}")
