"""Map careloop's exception tree and validation failures to clear 4xx JSON answers (and,
for a browser on a portal page, to a page in the patient's language: web.portal.error_page;
on a console page, to a page in the console's layout: web.console.error_page).

Unexpected exceptions become a 500 with a request id and no detail, and are logged without
the request body (which may carry PHI).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from careloop.crypto import EncryptionKeyError
from careloop.errors import (
    CareloopError,
    Conflict,
    InvalidInput,
    LinkNotUsable,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    error_body,
)
from careloop.fhir.outcome import issue, outcome, status_and_outcome
from careloop.security.rate_limit import RateLimited
from careloop.web.console.error_page import console_error_page, wants_console_page
from careloop.web.console.pages import PageRefused
from careloop.web.portal.error_page import portal_error_page, wants_portal_page

log = logging.getLogger("careloop.web")

_STATUS = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    PermissionDenied: 403,
    NotAuthenticated: 401,
    RateLimited: 429,
}


def _status_for(exc: CareloopError) -> int:
    for cls, status in _STATUS.items():
        if isinstance(exc, cls):
            return status
    return 400


FHIR_JSON = "application/fhir+json"


def _is_fhir(request: Request) -> bool:
    """Under /fhir every error is an OperationOutcome (FHIR R4 HTTP), never careloop's JSON."""
    return request.url.path == "/fhir" or request.url.path.startswith("/fhir/")


def _fhir_answer(
    status: int, body: dict[str, object], headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers, media_type=FHIR_JSON)


def _unreadable(exc: RequestValidationError) -> str:
    """What a console page could not read, in words: the value's name and where it was
    (``page`` in the address, ``note`` in the form), never the value itself."""
    names = []
    for err in exc.errors():
        where, *rest = [str(part) for part in err.get("loc", ())] or ["?"]
        name = ".".join(rest) or where
        place = "in the address" if where in ("query", "path") else "in the form"
        names.append(f"the value of “{name}” {place} cannot be used")
    return "; ".join(dict.fromkeys(names)) or "the request cannot be used"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(CareloopError)
    async def careloop_error(request: Request, exc: CareloopError) -> Response:
        if _is_fhir(request) and not isinstance(exc, EncryptionKeyError):
            status, fhir_body = status_and_outcome(exc)
            fhir_headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            if isinstance(exc, RateLimited):
                fhir_headers = {"Retry-After": str(exc.retry_after)}
                status = 429
            return _fhir_answer(status, fhir_body, fhir_headers)
        if isinstance(exc, EncryptionKeyError):
            # A server misconfiguration, not the caller's fault; say nothing about keys.
            log.error("encryption key problem", extra={"error": str(exc)})
            return JSONResponse({"error": "internal error"}, status_code=500)
        status = _status_for(exc)
        if wants_portal_page(request) and status != 401:
            retry = exc.retry_after if isinstance(exc, RateLimited) else None
            link = isinstance(exc, LinkNotUsable)
            return portal_error_page(request, status, retry_after=retry, link=link)
        if wants_console_page(request) and status != 401:
            retry = exc.retry_after if isinstance(exc, RateLimited) else None
            return console_error_page(request, status, detail=str(exc), retry_after=retry)
        body = error_body(exc)
        headers: dict[str, str] | None = None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, RateLimited):
            headers = {"Retry-After": str(exc.retry_after)}
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(PageRefused)
    async def page_refused(request: Request, exc: PageRefused) -> Response:
        return exc.response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        if wants_portal_page(request):
            return portal_error_page(request, 422)
        problems = []
        for err in exc.errors():
            location = ".".join(str(part) for part in err.get("loc", ()) if part != "body")
            problems.append({"field": location, "error": err.get("msg", "invalid")})
        if wants_console_page(request):
            return console_error_page(request, 422, detail=_unreadable(exc))
        first = problems[0] if problems else {"field": None, "error": "invalid request"}
        if _is_fhir(request):
            where = str(first["field"]) if first["field"] else None
            return _fhir_answer(400, outcome(issue(f"{first['error']}", expression=where)))
        return JSONResponse(
            {
                "error": f"{first['field']}: {first['error']}",
                "field": first["field"],
                "problems": problems,
            },
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_fhir(request):
            code = "not-found" if exc.status_code == 404 else "not-supported"
            return _fhir_answer(
                exc.status_code, outcome(issue(str(exc.detail), code=code)), exc.headers
            )
        if exc.status_code >= 400 and exc.status_code != 401 and wants_portal_page(request):
            return portal_error_page(request, exc.status_code)
        if exc.status_code >= 400 and exc.status_code != 401 and wants_console_page(request):
            return console_error_page(request, exc.status_code)
        return JSONResponse(
            {"error": str(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # Defence in depth: a value the database cannot hold (an id past 2**63, a string in a
        # numeric column) is the caller's bad input, not a server fault. Routers should bound
        # their parameters so the field gets named; this keeps a miss from becoming a 500.
        route = getattr(request.scope.get("route"), "path", "?")
        log.warning("value out of range for the database", extra={"route": route})
        return JSONResponse({"error": "a value in the request is out of range"}, status_code=422)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        request_id = uuid.uuid4().hex[:12]
        log.error("unhandled error", extra={"request_id": request_id, "error": type(exc).__name__})
        return JSONResponse({"error": "internal error", "request_id": request_id}, status_code=500)
