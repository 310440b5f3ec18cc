"""Console errors as pages in the console's layout, not JSON.

A nurse who follows an old link to a patient, or opens an address with a value the console
cannot read (``?page=abc``), must see what happened in words and a way back, with the
console's navigation, not ``{"error": "no such patient"}``. Only ``/console`` paths asked for
by a browser page load get this; htmx requests (whose failures the page shows in its alert
region from the JSON) and API clients keep their JSON answers.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from careloop.db import session_scope
from careloop.errors import PermissionDenied
from careloop.web.console.pages import page_principal, render
from careloop.web.deps import get_runtime

# status -> (title, what happened and what to do)
_WORDS = {
    400: ("This request could not be used", "Go back and try again."),
    403: ("Not available to your role", "Your role does not allow this."),
    404: (
        "Not found",
        "There is no such page or record. The link may be old, or mistyped; open the record"
        " again from the worklist or the patient list.",
    ),
    405: ("This page cannot be opened here", "Use the page's own buttons and links."),
    409: ("This could not be done", "Reload the page to see it as it is now, then try again."),
    422: (
        "This address could not be read",
        "The address has a value the console cannot use. Open the page again from the menu.",
    ),
    429: ("Too many tries", "Wait a minute, then try again."),
}
_DEFAULT = ("Something went wrong", "Go back and try again.")


def wants_console_page(request: Request) -> bool:
    """A browser's page load under /console (not an htmx request, not an API client)."""
    path = request.url.path
    if not (path == "/console" or path.startswith("/console/")):
        return False
    if request.headers.get("hx-request"):
        return False
    return "text/html" in request.headers.get("accept", "")


def console_error_page(
    request: Request, status: int, *, detail: str | None = None, retry_after: int | None = None
) -> HTMLResponse:
    """The console's page for a refused request: ``detail`` says what was refused, when the
    error's own words are written for staff (never patient data: errors carry none)."""
    runtime = get_runtime(request)
    with session_scope(runtime.sessions) as session:
        try:
            principal = page_principal(request, session, runtime.clock)
        except PermissionDenied:  # e.g. the refused request's own CSRF check
            principal = None
    title, text = _WORDS.get(status, _DEFAULT)
    page = render(
        request,
        "console/error.html",
        {
            "status": status,
            "title": title,
            "detail": detail[:1].upper() + detail[1:] + "." if detail else None,
            "text": text,
        },
        status_code=status,
        principal=principal,
    )
    if retry_after is not None:  # a 429 says when to try again, page or JSON
        page.headers["Retry-After"] = str(retry_after)
    return page
