"""Request ids, request logs and request metrics, in one ASGI middleware.

Each request gets an id (the caller's ``X-Request-ID`` when it is a plain token, else a new
one), echoed in the response and added to every log line written while serving it. One log
line per request carries method, route template (``/api/patients/{patient_id}``, never the
URL: paths and queries may carry ids), status, duration and the id: no PHI.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from careloop.logs import request_id
from careloop.web.asgi import HttpMiddleware, request_header
from careloop.web.metrics import HttpMetrics

log = logging.getLogger("careloop.http")

_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
UNMATCHED = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The matched route's path template (``<unmatched>`` for 404s, so no raw path leaks)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    return UNMATCHED


class RequestObservability(HttpMiddleware):
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        super().__init__(app)
        self.metrics = metrics

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        sent_id = request_header(scope, b"x-request-id")
        incoming = sent_id.decode("latin-1") if sent_id is not None else None
        rid = incoming if incoming and _VALID_ID.match(incoming) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = {"code": 500}
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.metrics.observe(method=method, route=route, status=status["code"], seconds=seconds)
            log.info(
                "request",
                extra={
                    "method": method,
                    "route": route,
                    "status": status["code"],
                    "duration_ms": round(seconds * 1000, 2),
                    "request_id": rid,
                },
            )
            request_id.reset(token)
