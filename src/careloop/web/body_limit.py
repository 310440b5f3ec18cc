"""The request body limit, enforced on the bytes that actually arrive.

A ``Content-Length`` header larger than the limit is refused at once. A body without one
(``Transfer-Encoding: chunked``) is read here, counting, before any route, dependency or
authentication runs: past the limit the request is answered 413 and the rest of the stream is
never read, so a client that has not signed in cannot make the server hold more than
``max_bytes`` of its body. The bytes read are replayed to the app unchanged.

A plain ASGI middleware (:mod:`careloop.web.asgi`), because the limit has to sit on the
``receive`` channel itself.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careloop.web.asgi import HttpMiddleware, replay_body, request_header


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The unread rest of the body must not be taken for the next request.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit(HttpMiddleware):
    """Refuse any request body larger than ``max_bytes`` with 413, before the app sees it."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        too_big = f"request body larger than {self.max_bytes} bytes"
        length = request_header(scope, b"content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                await _refuse(send, 400, "invalid Content-Length")
                return
            if declared > self.max_bytes:
                await _refuse(send, 413, too_big)
                return
            await self.app(scope, _counting(receive, self.max_bytes), send)
            return
        # No length declared (chunked, or no body at all): read and count it up front.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # The client went away before finishing its body; nothing to answer.
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _refuse(send, 413, too_big)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        await self.app(scope, replay_body(b"".join(chunks), receive), send)


def _counting(receive: Receive, max_bytes: int) -> Receive:
    """``receive`` that stops a body overrunning its declared length (defence in depth)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                return {"type": "http.disconnect"}
        return message

    return wrapped
