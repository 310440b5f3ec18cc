"""Sign-in, tokens and console sessions.

A failed sign-in is committed before the 401 goes out (the request transaction would
otherwise roll the failure counter back, and the account's back-off would never start).
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from careloop.audit import AuditAction
from careloop.clock import Clock
from careloop.errors import NotAuthenticated
from careloop.models import User
from careloop.security.auth import (
    authenticate_password,
    issue_token,
    principal_for_user,
    revoke_token_value,
)
from careloop.security.principal import Principal
from careloop.security.roles import STAFF_ROLES, Role
from careloop.security.sessions import Face, csrf_token_for
from careloop.web.cookies import clear_session_cookies, session_cookie, set_session_cookies
from careloop.web.deps import (
    ClockDep,
    PrincipalDep,
    SessionDep,
    SigningKeyDep,
    audit_security,
    client_address,
    get_runtime,
    rate_limit,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])


class SessionRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
    otp: str | None = Field(default=None, max_length=12, description="TOTP code, if enabled")


# A token is signed in for like a session (the same limits on the same credentials), plus its
# scopes and lifetime. No docstring: it would become the schema's description in OpenAPI.
class TokenRequest(SessionRequest):
    scopes: list[str] = Field(default_factory=list, max_length=64)
    ttl_minutes: int = Field(default=720, ge=1, le=60 * 24 * 30)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: str
    role: str


class WhoAmI(BaseModel):
    actor: str
    role: str
    patient_ids: list[str]


class SessionResponse(BaseModel):
    csrf_token: str
    expires_at: str
    role: str


def _sign_in(
    request: Request,
    session: Session,
    clock: Clock,
    *,
    username: str,
    password: str,
    otp: str | None = None,
) -> User:
    """Check the password; on failure commit the counter and an audit event, then 401."""
    try:
        user = authenticate_password(
            session,
            clock=clock,
            username=username,
            password=password,
            source=client_address(request),
            otp=otp,
        )
    except NotAuthenticated:
        anonymous = Principal(actor="anonymous", role=Role.PATIENT, source=client_address(request))
        audit_security(session, clock, anonymous, AuditAction.CREATE, "sign-in", outcome="failure")
        session.commit()
        raise
    return user


@router.post("/token", response_model=TokenResponse, dependencies=[Depends(rate_limit("signin"))])
def create_token(
    request: Request, body: TokenRequest, session: SessionDep, clock: ClockDep
) -> TokenResponse:
    """Exchange a username and password for a bearer token (failures back off exponentially)."""
    user = _sign_in(
        request, session, clock, username=body.username, password=body.password, otp=body.otp
    )
    issued = issue_token(
        session,
        clock=clock,
        user=user,
        scopes=body.scopes,
        ttl=timedelta(minutes=body.ttl_minutes),
    )
    audit_security(session, clock, principal_for_user(user), AuditAction.CREATE, "token")
    return TokenResponse(
        access_token=issued.token, expires_at=issued.expires_at.isoformat(), role=user.role
    )


@router.post(
    "/session", response_model=SessionResponse, dependencies=[Depends(rate_limit("signin"))]
)
def create_session(
    request: Request,
    response: Response,
    body: SessionRequest,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
) -> SessionResponse:
    """Console sign-in (staff only): sets the HttpOnly session cookie and a CSRF token."""
    user = _sign_in(
        request, session, clock, username=body.username, password=body.password, otp=body.otp
    )
    if Role(user.role) not in STAFF_ROLES:
        raise NotAuthenticated("invalid credentials")
    minutes = get_runtime(request).settings.security.console_session_minutes
    issued = issue_token(
        session,
        clock=clock,
        user=user,
        name="console",
        ttl=timedelta(minutes=minutes),
        kind="session",
    )
    csrf = csrf_token_for(key, issued.token)
    set_session_cookies(
        request, response, face=Face.CONSOLE, token=issued.token, csrf=csrf, minutes=minutes
    )
    audit_security(session, clock, principal_for_user(user), AuditAction.CREATE, "console-session")
    return SessionResponse(
        csrf_token=csrf, expires_at=issued.expires_at.isoformat(), role=user.role
    )


@router.get("/me", response_model=WhoAmI)
def who_am_i(principal: PrincipalDep) -> WhoAmI:
    return WhoAmI(
        actor=principal.actor, role=str(principal.role), patient_ids=sorted(principal.patient_ids)
    )


def _revoke_current(
    request: Request, principal: Principal, session: Session, clock: Clock, resource: str
) -> None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    if token is None and (found := session_cookie(request)) is not None:
        token = found[1]
    if token:
        revoke_token_value(session, clock=clock, token=token)
    audit_security(session, clock, principal, AuditAction.DELETE, resource)


@router.post("/revoke", status_code=204)
def revoke(request: Request, principal: PrincipalDep, session: SessionDep, clock: ClockDep) -> None:
    """Revoke the bearer token (or session) used for this call (sign out)."""
    _revoke_current(request, principal, session, clock, "token")


@router.delete("/session", status_code=204)
def delete_session(
    request: Request,
    response: Response,
    principal: PrincipalDep,
    session: SessionDep,
    clock: ClockDep,
) -> None:
    """Sign-out: revokes the session and clears the cookies of its face."""
    found = session_cookie(request)
    _revoke_current(request, principal, session, clock, "console-session")
    face = found[0] if found is not None else Face.CONSOLE
    clear_session_cookies(request, response, face=face)
