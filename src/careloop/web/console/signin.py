"""Console sign-in and sign-out as HTML forms, over governance's session mechanism.

The form posts the password here; :func:`careloop.web.api.auth.create_session` checks it
(back-off, staff only, audit) and sets the console's HttpOnly session cookie and its CSRF
cookie on the redirect this page answers with. The form itself carries a login-CSRF token.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from careloop.errors import NotAuthenticated, PermissionDenied
from careloop.security.principal import Principal
from careloop.security.sessions import (
    Face,
    check_signin_csrf,
    new_signin_nonce,
    signin_csrf_token,
)
from careloop.web.api import auth as governance_api
from careloop.web.console.pages import after_post, page_principal, render, safe_next
from careloop.web.cookies import names, set_signin_cookie
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


def _form(
    request: Request,
    key: bytes,
    *,
    next: str | None,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The sign-in form with a fresh login-CSRF token and its pre-session cookie."""
    nonce = new_signin_nonce()
    context = {
        "next": safe_next(next, default=""),
        "username": username,
        "error": error,
        "signin_csrf": signin_csrf_token(key, nonce),
    }
    response = render(request, "console/sign_in.html", context, status_code=status_code)
    set_signin_cookie(request, response, face=Face.CONSOLE, nonce=nonce)
    return response


@router.get("/console/sign-in", response_class=HTMLResponse)
def sign_in_form(request: Request, key: SigningKeyDep, next: str | None = None) -> HTMLResponse:
    return _form(request, key, next=next)


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
    signin_csrf: Annotated[str, Form(max_length=200)] = "",
    otp: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    """Wrong credentials re-show the form (same words whatever was wrong).

    The form's token must match its pre-session cookie: another site cannot post this form
    to sign the browser in to an account of the attacker's choosing (login CSRF).
    """
    try:
        check_signin_csrf(
            key,
            nonce=request.cookies.get(names(request, Face.CONSOLE).signin),
            field_value=signin_csrf,
        )
    except PermissionDenied:
        error = "The sign-in form had expired. Please sign in again."
        return _form(request, key, next=next, username=username, error=error, status_code=403)
    redirect = RedirectResponse("/console", status_code=303)
    try:
        result = governance_api.create_session(
            request,
            redirect,
            governance_api.SessionRequest(username=username, password=password, otp=otp or None),
            session,
            clock,
            key,
        )
    except NotAuthenticated:
        error = "Those credentials did not work, or the account must wait a little."
        return _form(request, key, next=next, username=username, error=error, status_code=401)
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
