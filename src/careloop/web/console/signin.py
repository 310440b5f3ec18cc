"""Console sign-in and sign-out as HTML forms, over governance's session mechanism.

The form posts the password here; :func:`careloop.web.api.auth.create_session` checks it
(lock-out, staff only, audit) and sets the HttpOnly ``careloop_session`` cookie and the
CSRF cookie on the redirect this page answers with.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from careloop.errors import NotAuthenticated
from careloop.security.principal import Principal
from careloop.web.api import auth as governance_api
from careloop.web.console.pages import after_post, page_principal, render, safe_next
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep, SigningKeyDep, rate_limit

router = APIRouter(include_in_schema=False)


def home_for(principal: Principal) -> str:
    """Where a role starts: the worklist for the care team, programs for analysts."""
    if principal.can("worklist:read"):
        return "/console/worklist"
    if principal.can("reports:read"):
        return "/console/programs"
    return "/console/content"


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, session: SessionDep, clock: ClockDep) -> Response:
    principal = page_principal(request, session, clock)
    if principal is None or not principal.is_staff:
        return RedirectResponse("/console/sign-in", status_code=303)
    return RedirectResponse(home_for(principal), status_code=303)


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, next: str | None = None) -> HTMLResponse:
    return render(
        request,
        "console/sign_in.html",
        {"next": safe_next(next, default=""), "username": "", "error": None},
    )


@router.post(
    "/console/sign-in",
    response_class=HTMLResponse,
    dependencies=[Depends(rate_limit("signin"))],
)
def sign_in(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    username: Annotated[str, Form(max_length=150)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Wrong credentials re-show the form (same words whatever was wrong)."""
    redirect = RedirectResponse("/console", status_code=303)
    try:
        result = governance_api.create_session(
            request,
            redirect,
            governance_api.SessionRequest(username=username, password=password),
            session,
            clock,
            key,
        )
    except NotAuthenticated:
        return render(
            request,
            "console/sign_in.html",
            {
                "next": safe_next(next, default=""),
                "username": username,
                "error": "Those credentials did not work, or the account is locked for a while.",
            },
            status_code=401,
        )
    redirect.headers["location"] = safe_next(next, default="/console")
    del result  # the CSRF token also travels in its cookie; pages recompute it per request
    return redirect


@router.post("/console/sign-out")
def sign_out(
    request: Request, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> Response:
    response = after_post(request, "/console/sign-in")
    governance_api.delete_session(request, response, principal, session, clock)
    return response
