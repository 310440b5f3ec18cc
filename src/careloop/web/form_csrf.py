"""The CSRF token of a plain HTML form: its ``csrf_token`` field stands in for the header.

The console's and the portal's forms post through htmx, which adds the ``X-CSRF-Token``
header (``hx-headers`` on the page's body). A form sent before htmx has loaded (a quick tap
on a slow phone, a browser without scripts) is an ordinary form POST: it carries no header,
only its fields. Every session form therefore also carries the token as a hidden
``csrf_token`` field (``templates/_csrf.html``), and this middleware copies that field into
the header when the header is missing, so :func:`careloop.web.deps.authenticate` checks one
value in one place, whichever way the form came.

Only url-encoded bodies sent with a session cookie are read (the body limit, outside this
middleware, has bounded them); anything else passes through untouched. A wrong or missing
field is not judged here: the request then simply has no header and is refused as before.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from careloop.security.sessions import CSRF_HEADER, SAFE_METHODS
from careloop.web.asgi import HttpMiddleware, replay_body, request_header

FIELD = "csrf_token"
_HEADER = CSRF_HEADER.lower().encode()
_FORM = b"application/x-www-form-urlencoded"
_SESSION_COOKIE = b"careloop_"  # careloop_console / careloop_portal, __Host- or not


def _wants_field(scope: Scope) -> bool:
    """An unsafe url-encoded request with a session cookie and no CSRF header."""
    if scope.get("method", "GET") in SAFE_METHODS or request_header(scope, _HEADER) is not None:
        return False
    content_type = request_header(scope, b"content-type") or b""
    cookies = request_header(scope, b"cookie") or b""
    return content_type.lower().startswith(_FORM) and _SESSION_COOKIE in cookies


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body, or None when the client went away before sending it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def form_token(body: bytes) -> str | None:
    """The first ``csrf_token`` field of a url-encoded body, if it has one."""
    try:
        fields = parse_qs(body.decode("latin-1"), max_num_fields=1000)
    except ValueError:  # more fields than any form of ours: no token, refused (403, not 500)
        return None
    values = fields.get(FIELD)
    return values[0] if values and values[0] else None


class FormCsrfField(HttpMiddleware):
    """Copy a plain form's ``csrf_token`` field into the ``X-CSRF-Token`` header."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _wants_field(scope):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        if body is None:
            return
        token = form_token(body)
        # A real token is ASCII; another value could not go into a header (a 500): none.
        if token is not None and token.isascii():
            headers = [*scope.get("headers", ()), (_HEADER, token.encode("latin-1"))]
            scope = {**scope, "headers": headers}
        await self.app(scope, replay_body(body, receive), send)
