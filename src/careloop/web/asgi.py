"""The base of our plain ASGI middlewares (body limit, request ids and logs, security headers).

Plain ASGI rather than Starlette's ``BaseHTTPMiddleware``, which runs each request in a task
group with memory streams: at 200 feedback posts/s that wrapping cost the event loop more than
the middlewares' own work. Each acts on HTTP requests only; lifespan and websocket scopes
pass straight through, here, once.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMiddleware:
    """An ASGI middleware whose :meth:`handle` sees HTTP requests only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


def request_header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower-case) of the request, as sent."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value)
    return None


def replay_body(body: bytes, receive: Receive) -> Receive:
    """``receive`` that hands over an already-read body once, then waits as before."""
    sent = False

    async def wrapped() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return wrapped
