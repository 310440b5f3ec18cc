"""The browser faces' cookies on the wire: which names, when Secure, set and cleared together.

Names and rules are :mod:`careloop.security.sessions`'; this module only knows requests and
responses. A connection counts as secure over https or when ``web.production`` is set (TLS
is then terminated in front of the app).
"""

from __future__ import annotations

from fastapi import Request, Response

from careloop.security.sessions import CookieNames, Face, cookie_names

SIGNIN_MINUTES = 30


def is_secure(request: Request) -> bool:
    return request.url.scheme == "https" or bool(request.app.state.runtime.settings.web.production)


def names(request: Request, face: Face) -> CookieNames:
    return cookie_names(face, secure=is_secure(request))


def faces_for(path: str) -> tuple[Face, ...]:
    """Whose cookie a path accepts: the console's pages the console's, the portal's the
    portal's; the API either (each cookie still only with its own token kind)."""
    if path.startswith("/portal"):
        return (Face.PORTAL,)
    if path.startswith("/console"):
        return (Face.CONSOLE,)
    return (Face.CONSOLE, Face.PORTAL)


def session_cookie(request: Request) -> tuple[Face, str] | None:
    """The face and token of the session cookie this request carries, if any."""
    for face in faces_for(request.url.path):
        token = request.cookies.get(names(request, face).session)
        if token is not None:
            return face, token
    return None


def set_session_cookies(
    request: Request, response: Response, *, face: Face, token: str, csrf: str, minutes: int
) -> None:
    cookies = names(request, face)
    secure = is_secure(request)
    response.set_cookie(
        cookies.session,
        token,
        max_age=minutes * 60,
        httponly=True,
        secure=secure,
        samesite="strict",
        path="/",
    )
    response.set_cookie(
        cookies.csrf, csrf, max_age=minutes * 60, secure=secure, samesite="strict", path="/"
    )
    response.delete_cookie(cookies.signin, path="/", secure=secure, samesite="strict")


def clear_session_cookies(request: Request, response: Response, *, face: Face) -> None:
    cookies = names(request, face)
    secure = is_secure(request)
    for name in (cookies.session, cookies.csrf):
        response.delete_cookie(name, path="/", secure=secure, httponly=True, samesite="strict")


def set_signin_cookie(request: Request, response: Response, *, face: Face, nonce: str) -> None:
    """The pre-session cookie a sign-in form's token is bound to (login CSRF)."""
    response.set_cookie(
        names(request, face).signin,
        nonce,
        max_age=SIGNIN_MINUTES * 60,
        httponly=True,
        secure=is_secure(request),
        samesite="strict",
        path="/",
    )
