"""Portal sign-in with a one-time code (governance's flow), and sign-out.

The answer to a code request is the same whether or not the contact is known; the code
leaves after the commit; the session cookie is HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from careloop.errors import NotAuthenticated
from careloop.security.redirects import same_origin_path
from careloop.security.sessions import (
    Face,
    check_signin_csrf,
    csrf_token_for,
    new_signin_nonce,
    signin_csrf_token,
)
from careloop.web.api import auth as governance_api
from careloop.web.api import portal as portal_api
from careloop.web.console.pages import after_post
from careloop.web.cookies import names, set_session_cookies, set_signin_cookie
from careloop.web.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    SigningKeyDep,
    get_runtime,
    rate_limit,
)
from careloop.web.portal.i18n import pick_language
from careloop.web.portal.page import LANG_COOKIE, SIGN_IN, render_page

router = APIRouter(include_in_schema=False)


def _chosen_language(request: Request) -> str | None:
    """The language picked in the portal's own menu (its cookie), if any: the code that this
    page asks for is worded in it, as the page is. The browser's Accept-Language is no choice."""
    chosen = request.cookies.get(LANG_COOKIE)
    return pick_language(chosen) if chosen else None


def _browser_language(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def _next(value: str | None) -> str:
    """Where to go after signing in: a portal path on this origin, else the portal's home."""
    return same_origin_path(value, prefix="/portal", default="/portal")


def _sign_in_page(
    request: Request, language: str, status_code: int = 200, **values: object
) -> HTMLResponse:
    # The language links lead to this page's GET, never to a form's address (``/portal/verify``
    # answers only POST): at the code step they carry the challenge, so the code step comes
    # back in the chosen language and the code already sent still works.
    kept = {"next": values.get("next") or "/portal"}
    if values.get("step") == "code":
        kept["challenge"] = str(values.get("challenge_id") or "")
    values = values | {"lang_path": SIGN_IN, "lang_query": "&" + urlencode(kept)}
    return render_page(
        request, "portal/sign_in.html", values, language=language, status_code=status_code
    )


@router.get(SIGN_IN, response_class=HTMLResponse)
def sign_in_form(request: Request, key: SigningKeyDep) -> HTMLResponse:
    language = pick_language(
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        request.headers.get("accept-language"),
    )
    # A page that needed sign-in (a reminder's video visit link) names itself in ``next``.
    following = _next(request.query_params.get("next"))
    challenge_id = request.query_params.get("challenge", "")[:64]
    nonce = request.cookies.get(names(request, Face.PORTAL).signin)
    if challenge_id and nonce:
        # The code step again (its language switched): bound to this browser as before.
        response = _sign_in_page(
            request,
            language,
            step="code",
            challenge_id=challenge_id,
            signin_csrf=signin_csrf_token(key, nonce),
            next=following,
        )
    else:
        response = _sign_in_page(request, language, step="contact", next=following)
    if request.query_params.get("lang"):
        response.set_cookie(LANG_COOKIE, language, samesite="strict", max_age=365 * 86400)
    return response


@router.post(SIGN_IN, response_class=HTMLResponse, dependencies=[Depends(rate_limit("signin"))])
def request_code(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    system: Annotated[str, Form(pattern="^(sms|email)$")],
    value: Annotated[str, Form(min_length=3, max_length=320)],
    next: Annotated[str, Form(max_length=500)] = "",
) -> HTMLResponse:
    """Ask governance for a code; the answer is the same whether or not the contact is known."""
    background = BackgroundTasks()
    requested = portal_api.portal_request_code(
        portal_api.CodeRequest(system=system, value=value, language=_chosen_language(request)),
        request,
        background,
        session,
        clock,
        key,
    )
    # Login CSRF: the code form is bound to this browser by a pre-session cookie.
    nonce = new_signin_nonce()
    response = _sign_in_page(
        request,
        _browser_language(request),
        step="code",
        challenge_id=requested.challenge_id,
        signin_csrf=signin_csrf_token(key, nonce),
        next=_next(next),
    )
    set_signin_cookie(request, response, face=Face.PORTAL, nonce=nonce)
    response.background = background  # the code leaves after the commit
    return response


@router.post(
    "/portal/verify", response_class=HTMLResponse, dependencies=[Depends(rate_limit("signin"))]
)
def verify_code(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
    challenge_id: Annotated[str, Form(min_length=1, max_length=64)],
    code: Annotated[str, Form(min_length=1, max_length=12)],
    signin_csrf: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Trade the code for the portal session cookie (HttpOnly, SameSite=Strict) and CSRF.

    Only in the browser that asked for the code (login CSRF: its pre-session cookie)."""
    nonce = request.cookies.get(names(request, Face.PORTAL).signin)
    check_signin_csrf(key, nonce=nonce, field_value=signin_csrf)
    try:
        issued = portal_api.portal_verify_code(
            portal_api.CodeVerify(challenge_id=challenge_id, code=code),
            request,
            session,
            clock,
            key,
        )
    except NotAuthenticated:
        return _sign_in_page(
            request,
            _browser_language(request),
            status_code=401,
            step="code",
            challenge_id=challenge_id,
            error=True,
            signin_csrf=signin_csrf,
            next=_next(next),
        )
    minutes = get_runtime(request).settings.security.portal_token_minutes
    response = RedirectResponse(_next(next), status_code=303)
    set_session_cookies(
        request,
        response,
        face=Face.PORTAL,
        token=issued.access_token,
        csrf=csrf_token_for(key, issued.access_token),
        minutes=minutes,
    )
    return response


@router.post("/portal/sign-out")
def sign_out(
    request: Request, principal: PrincipalDep, session: SessionDep, clock: ClockDep
) -> Response:
    response = after_post(request, SIGN_IN)
    governance_api.delete_session(request, response, principal, session, clock)
    return response
