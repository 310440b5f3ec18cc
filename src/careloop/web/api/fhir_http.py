"""What every ``/fhir`` route answers with and reads: ``application/fhir+json`` replies,
the server's base URL, a JSON resource body.

careloop serves JSON only. A client asking for another format (``_format=xml``, ``Accept:
application/fhir+xml``) gets 406 and one sending a body in another format gets 415, as FHIR
R4 HTTP (§3.1.0.1.6) says, never a JSON reply it would fail to parse as the XML it asked for.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response
from starlette.exceptions import HTTPException

from careloop.errors import InvalidInput
from careloop.fhir.params import JSON_FORMATS
from careloop.fhirdata.storable import unstorable
from careloop.settings.addresses import configured_public_base_url

FHIR_JSON = "application/fhir+json"
# Media ranges an Accept header may name for a JSON reply (besides JSON_FORMATS).
_ANY = frozenset({"*/*", "application/*"})


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return b"" if content is None else orjson.dumps(content)


def base_url(request: Request) -> str:
    """The FHIR base a client is given (``fullUrl``, ``Location``, paging links): the
    configured public URL + ``/fhir``, else the request's own host (development)."""
    public = configured_public_base_url(request.app.state.runtime.settings)
    return (public or str(request.base_url).rstrip("/")) + "/fhir"


def request_url(request: Request) -> str:
    """The request's URL as the client sent it to the public base (a ``self`` link)."""
    path = request.url.path.removeprefix("/fhir")
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base_url(request)}{path}{query}"


def _media_type(value: str) -> str:
    """``application/fhir+json`` of ``application/fhir+json; charset=utf-8``; a ``+`` read as
    a space from an unencoded query string (``_format=application/fhir+json``) put back."""
    return value.split(";", 1)[0].strip().lower().replace(" ", "+")


def _accepts_json(accept: str) -> bool:
    for media_range in accept.split(","):
        kind, *params = (part.strip() for part in media_range.split(";"))
        refused = any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params)
        if not refused and _media_type(kind) in JSON_FORMATS | _ANY:
            return True
    return False


def negotiate_format(request: Request) -> None:
    """406 unless the reply may be JSON: ``_format`` wins over ``Accept`` (FHIR R4 HTTP)."""
    asked = request.query_params.getlist("_format")
    if asked:
        if any(_media_type(value) not in JSON_FORMATS for value in asked):
            raise HTTPException(406, "_format: only JSON is served (json, application/fhir+json)")
        return
    accept = request.headers.get("accept", "").strip()
    if accept and not _accepts_json(accept):
        raise HTTPException(406, "Accept: only JSON is served (application/fhir+json)")


async def read_body(request: Request) -> dict[str, Any]:
    sent = request.headers.get("content-type")
    if sent and _media_type(sent) not in JSON_FORMATS:
        raise HTTPException(415, "Content-Type: only JSON is read (application/fhir+json)")
    raw = await request.body()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", field="body")
    refused = unstorable(body, raw)
    if refused is not None:
        raise InvalidInput(f"{refused[0]}: {refused[1]}", field=refused[0])
    return body


BodyDep = Annotated[dict[str, Any], Depends(read_body)]
