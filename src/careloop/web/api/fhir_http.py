"""What every ``/fhir`` route answers with and reads: ``application/fhir+json`` replies,
the server's base URL, a JSON resource body."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Depends, Request, Response

from careloop.errors import InvalidInput

FHIR_JSON = "application/fhir+json"


class FhirResponse(Response):
    media_type = FHIR_JSON

    def render(self, content: Any) -> bytes:
        return b"" if content is None else orjson.dumps(content)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


async def read_body(request: Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise InvalidInput("the body is not valid JSON", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a FHIR resource (a JSON object)", field="body")
    return body


BodyDep = Annotated[dict[str, Any], Depends(read_body)]
