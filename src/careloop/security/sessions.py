"""Console sessions: an HttpOnly cookie plus a CSRF token for every unsafe request.

The session is a careloop token of kind ``session`` carried in the ``careloop_session``
cookie (HttpOnly, SameSite=Strict, Secure over https). SameSite=Strict already stops most
cross-site requests; the CSRF token is the second lock: an HMAC of the session token under
the server key, returned at sign-in (and in the readable ``careloop_csrf`` cookie) and
required in the ``X-CSRF-Token`` header on POST/PUT/PATCH/DELETE made with the cookie.
Bearer-token calls carry no ambient credentials and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac

from careloop.crypto import keyed_digest
from careloop.errors import PermissionDenied

SESSION_COOKIE = "careloop_session"
CSRF_COOKIE = "careloop_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(key: bytes, session_token: str) -> str:
    return keyed_digest(key, "csrf:" + hashlib.sha256(session_token.encode()).hexdigest())


def check_csrf(key: bytes, *, session_token: str, header_value: str | None) -> None:
    expected = csrf_token_for(key, session_token)
    if not header_value or not hmac.compare_digest(expected, header_value):
        raise PermissionDenied("missing or wrong CSRF token")
