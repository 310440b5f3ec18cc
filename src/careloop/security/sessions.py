"""Browser sessions: an HttpOnly cookie per face plus a CSRF token for every unsafe request.

The console and the portal each have their own cookie (:func:`cookie_names`), so a portal
session can never be taken for a console one: over https (or in production) they are
``__Host-careloop_console`` and ``__Host-careloop_portal`` (the prefix makes the browser
insist on Secure, Path=/ and no Domain, so a sibling host cannot plant one), SameSite=Strict,
HttpOnly. Plain-http development uses the names without the prefix, which browsers refuse
on http. The console's cookie holds a token of kind ``session``, the portal's one of kind
``portal``.

SameSite=Strict already stops most cross-site requests; the CSRF token is the second lock: an
HMAC of the session token under the server key, returned at sign-in (and in the readable
``…_csrf`` cookie) and required in the ``X-CSRF-Token`` header on POST/PUT/PATCH/DELETE
made with the cookie. Bearer-token calls carry no ambient credentials and need no CSRF token.
Sign-in forms carry their own token (:func:`signin_csrf_token`) bound to a short-lived
pre-session cookie, so another site cannot sign a browser in to an account of its choosing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from careloop.crypto import keyed_digest
from careloop.errors import PermissionDenied

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGNIN_FIELD = "signin_csrf"


class Face(StrEnum):
    """The two browser faces, each with its own session cookie and token kind."""

    CONSOLE = "console"
    PORTAL = "portal"

    @property
    def token_kind(self) -> str:
        return "session" if self is Face.CONSOLE else "portal"


@dataclass(frozen=True)
class CookieNames:
    session: str
    csrf: str
    signin: str


def cookie_names(face: Face, *, secure: bool) -> CookieNames:
    """The cookie names of ``face``: ``__Host-`` prefixed when the connection is secure."""
    base = ("__Host-" if secure else "") + f"careloop_{face}"
    return CookieNames(session=base, csrf=f"{base}_csrf", signin=f"{base}_signin")


def new_signin_nonce() -> str:
    """The random value of a pre-session cookie set with a sign-in form."""
    return secrets.token_urlsafe(24)


def signin_csrf_token(key: bytes, nonce: str) -> str:
    """The form field that must come back with the pre-session cookie holding ``nonce``."""
    return keyed_digest(key, "signin-csrf:" + nonce)


def check_signin_csrf(key: bytes, *, nonce: str | None, field_value: str | None) -> None:
    """Refuse a sign-in POST whose form token does not match its pre-session cookie."""
    if not nonce or not field_value:
        raise PermissionDenied("missing sign-in form token; reload the sign-in page")
    if not hmac.compare_digest(
        signin_csrf_token(key, nonce).encode(), field_value.encode("utf-8", "surrogateescape")
    ):
        raise PermissionDenied("wrong sign-in form token; reload the sign-in page")


def csrf_token_for(key: bytes, session_token: str) -> str:
    return keyed_digest(key, "csrf:" + hashlib.sha256(session_token.encode()).hexdigest())


def check_csrf(key: bytes, *, session_token: str, header_value: str | None) -> None:
    expected = csrf_token_for(key, session_token).encode()
    # Bytes: compare_digest raises TypeError (a 500) on a str beyond ASCII from the client.
    given = (header_value or "").encode("utf-8", "surrogateescape")
    if not given or not hmac.compare_digest(expected, given):
        raise PermissionDenied("missing or wrong CSRF token")
