"""Portal errors as pages in the patient's language, not JSON.

A patient who asks for too many codes, follows an old link or sends a form the server cannot
take must see a page that says what happened and what to do, in their language, with a way
back. The API keeps its JSON answers; only ``/portal`` paths asked for by a browser get this.
A signed-in patient (or caregiver) gets the page in the patient's language, as every other
portal page, not in the browser's.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from careloop.db import session_scope
from careloop.errors import PermissionDenied
from careloop.security.roles import Role
from careloop.web.console.pages import page_principal
from careloop.web.deps import get_runtime
from careloop.web.portal.i18n import pick_language
from careloop.web.portal.page import LANG_COOKIE, page_language, render_page

# status -> (title key, explanation key)
_WORDS = {
    404: ("error_404_title", "error_404_text"),
    403: ("error_403_title", "error_403_text"),
    422: ("error_422_title", "error_422_text"),
    429: ("error_429_title", "error_429_text"),
}
_DEFAULT = ("error_title", "error_text")
# A spent or altered link is not a form the patient got wrong (``errors.LinkNotUsable``).
_LINK = ("error_link_title", "error_link_text")


def wants_portal_page(request: Request) -> bool:
    """A browser's request for a portal page (not the JSON API under /api or /portal/api)."""
    path = request.url.path
    if not (path == "/portal" or path.startswith("/portal/")):
        return False
    accept = request.headers.get("accept", "")
    return "text/html" in accept or request.headers.get("hx-request") == "true"


def wait_words(text_key: str, retry_after: int | None) -> tuple[str, int]:
    """The text key and whole minutes to wait: "in a minute", never "in 1 minutes"."""
    minutes = max(1, round((retry_after or 60) / 60))
    if text_key == "error_429_text" and minutes == 1:
        return "error_429_text_one", minutes
    return text_key, minutes


def error_language(request: Request) -> str:
    """The signed-in patient's language (the one asked for by ``?patient=`` when the caller
    may act for them, else their first), else the query's, cookie's or browser's."""
    runtime = get_runtime(request)
    with session_scope(runtime.sessions) as session:
        try:
            principal = page_principal(request, session, runtime.clock)
        except PermissionDenied:  # e.g. the refused request's own CSRF check: no patient
            principal = None
        if principal is not None and principal.role in (Role.PATIENT, Role.CAREGIVER):
            wanted = request.query_params.get("patient")
            ids = sorted(principal.patient_ids)
            patient_id = wanted if wanted in ids else (ids[0] if ids else None)
            if patient_id:
                return page_language(request, session, patient_id)
    return pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )


def portal_error_page(
    request: Request, status: int, *, retry_after: int | None = None, link: bool = False
) -> HTMLResponse:
    language = error_language(request)
    title, text = _LINK if link else _WORDS.get(status, _DEFAULT)
    text, minutes = wait_words(text, retry_after)
    response = render_page(
        request,
        "portal/error.html",
        {"status": status, "title_key": title, "text_key": text, "minutes": minutes},
        language=language,
        status_code=status,
    )
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response
