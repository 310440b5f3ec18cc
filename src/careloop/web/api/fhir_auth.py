"""SMART Backend Services at ``/fhir/auth/token`` and its discovery document.

The token endpoint speaks OAuth 2.0 (RFC 6749 errors: ``invalid_client``,
``invalid_request``, ``invalid_scope``), not FHIR, as SMART requires.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse

from careloop.errors import InvalidInput, NotAuthenticated
from careloop.security.smart import ALGORITHMS, exchange_assertion
from careloop.web.api.fhir_http import base_url
from careloop.web.deps import ClockDep, SessionDep, rate_limit

router = APIRouter(prefix="/fhir", tags=["fhir-auth"])


def token_url(request: Request) -> str:
    """The endpoint a client posts to and names as its assertion's ``aud`` (public base)."""
    return base_url(request) + "/auth/token"


@router.get("/.well-known/smart-configuration")
def smart_configuration(request: Request) -> JSONResponse:
    """What a backend client needs to find the token endpoint and its rules."""
    return JSONResponse(
        {
            "token_endpoint": token_url(request),
            "grant_types_supported": ["client_credentials"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
            "scopes_supported": ["system/*.read", "system/*.rs", "system/Observation.c"],
            "capabilities": ["client-confidential-asymmetric"],
        }
    )


@router.post("/auth/token", dependencies=[Depends(rate_limit("signin"))])
def token(
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    grant_type: Annotated[str, Form()] = "",
    client_assertion_type: Annotated[str, Form()] = "",
    client_assertion: Annotated[str, Form(max_length=8192)] = "",
    scope: Annotated[str, Form(max_length=2000)] = "",
) -> JSONResponse:
    """client_credentials with a private_key_jwt assertion → a 5-minute bearer token."""
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    try:
        issued = exchange_assertion(
            session,
            clock=clock,
            grant_type=grant_type,
            assertion_type=client_assertion_type,
            assertion=client_assertion,
            scope=scope,
            token_url=token_url(request),
        )
    except NotAuthenticated as exc:
        body = {"error": "invalid_client", "error_description": str(exc)}
        return JSONResponse(body, status_code=401, headers=headers)
    except InvalidInput as exc:
        error = "invalid_scope" if exc.field == "scope" else "invalid_request"
        if exc.field == "grant_type":
            error = "unsupported_grant_type"
        body = {"error": error, "error_description": str(exc)}
        return JSONResponse(body, status_code=400, headers=headers)
    return JSONResponse(
        {
            "access_token": issued.access_token,
            "token_type": "bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        },
        headers=headers,
    )
