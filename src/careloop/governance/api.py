"""Sign-in and token endpoints."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from careloop.governance.audit import AuditAction, Purpose, audit
from careloop.governance.auth import (
    authenticate_password,
    issue_token,
    principal_for_user,
    revoke_token_value,
)
from careloop.web.deps import ClockDep, PrincipalDep, SessionDep

router = APIRouter(prefix="/api/auth", tags=["auth"])


class TokenRequest(BaseModel):
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)
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


@router.post("/token", response_model=TokenResponse)
def create_token(body: TokenRequest, session: SessionDep, clock: ClockDep) -> TokenResponse:
    """Exchange a username and password for a bearer token (5 failures lock for 15 min)."""
    user = authenticate_password(
        session, clock=clock, username=body.username, password=body.password
    )
    issued = issue_token(
        session,
        clock=clock,
        user=user,
        scopes=body.scopes,
        ttl=timedelta(minutes=body.ttl_minutes),
    )
    audit(
        session,
        clock=clock,
        principal=principal_for_user(user),
        action=AuditAction.CREATE,
        resource="token",
        purpose=Purpose.SECURITY,
    )
    return TokenResponse(
        access_token=issued.token, expires_at=issued.expires_at.isoformat(), role=user.role
    )


@router.get("/me", response_model=WhoAmI)
def who_am_i(principal: PrincipalDep) -> WhoAmI:
    return WhoAmI(
        actor=principal.actor, role=str(principal.role), patient_ids=sorted(principal.patient_ids)
    )


@router.post("/revoke", status_code=204)
def revoke(request: Request, principal: PrincipalDep, session: SessionDep, clock: ClockDep) -> None:
    """Revoke the bearer token used for this call (sign out)."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get("careloop_session")
    if token:
        revoke_token_value(session, clock=clock, token=token)
    audit(
        session,
        clock=clock,
        principal=principal,
        action=AuditAction.DELETE,
        resource="token",
        purpose=Purpose.SECURITY,
    )
