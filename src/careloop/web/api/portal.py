"""Portal sign-in by one-time code, contact enrolment, and proxy grants over HTTP."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Request
from pydantic import BaseModel, Field

from careloop.audit import AuditAction
from careloop.content.conversation_words import has_conversation_words
from careloop.errors import NotAuthenticated, PermissionDenied
from careloop.governance.portal import (
    CODE_TTL,
    contact_digest,
    enroll_portal_contact,
    request_code,
    verify_code,
)
from careloop.governance.proxy import active_grants, grant_proxy, revoke_proxy, with_proxy_grants
from careloop.models import ProxyGrant
from careloop.records import service as records
from careloop.security.auth import principal_for_user
from careloop.security.principal import Principal
from careloop.security.roles import PROXY_SCOPES, Role
from careloop.web.api.outputs import from_attributes
from careloop.web.deps import (
    ClockDep,
    PatientReach,
    SessionDep,
    SigningKeyDep,
    audit_patient_access,
    audit_security,
    check_patient_access,
    get_code_sender,
    get_rate_limiter,
    get_runtime,
    rate_limit,
    reached,
    require,
)

router = APIRouter(tags=["portal"])
ConsentWriter = Annotated[Principal, Depends(require("consent:write"))]
"""Who may record consent on a patient's behalf."""

ProxyScope = Literal["record", "messages", "checkins", "readings", "preferences", "consent"]
assert set(ProxyScope.__args__) == set(PROXY_SCOPES)  # type: ignore[attr-defined]


class CodeRequest(BaseModel):
    system: Literal["sms", "email"]
    value: str = Field(min_length=3, max_length=320)
    language: str | None = Field(
        default=None,
        pattern="^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$",
        description="The language chosen in the portal (BCP-47); the code is worded in it. "
        "Unset: the patient's stated language, else their record's.",
    )


def _worded(language: str | None) -> str | None:
    """The chosen language when the code's text exists in it; else None, so the patient's own
    language words the code (a language we have no words in must not turn it into English)."""
    if language is None:
        return None
    return language if has_conversation_words(language.split("-")[0].lower()) else None


class CodeRequested(BaseModel):
    challenge_id: str
    expires_in_seconds: int
    message: str


class CodeVerify(BaseModel):
    challenge_id: str = Field(min_length=1, max_length=64)
    code: str = Field(min_length=1, max_length=12)


class PortalToken(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: str
    role: str
    patient_ids: list[str]


class EnrolRequest(BaseModel):
    system: Literal["sms", "email"]
    value: str = Field(min_length=3, max_length=320)
    caregiver_id: str | None = Field(default=None, max_length=128)


class EnrolOut(BaseModel):
    id: int
    system: str
    caregiver_id: str | None
    verified_at: datetime


class GrantIn(BaseModel):
    caregiver_id: str = Field(min_length=1, max_length=128)
    scopes: list[ProxyScope] = Field(min_length=1, max_length=len(PROXY_SCOPES))


class GrantOut(BaseModel):
    id: int
    caregiver_id: str
    scopes: list[str]
    granted_at: datetime
    granted_by: str
    revoked_at: datetime | None


def _grant_out(g: ProxyGrant) -> GrantOut:
    return from_attributes(GrantOut, g, scopes=list(g.scopes))


@router.post(
    "/api/portal/code",
    response_model=CodeRequested,
    status_code=202,
    dependencies=[Depends(rate_limit("signin"))],
)
def portal_request_code(
    body: CodeRequest,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    clock: ClockDep,
    key: SigningKeyDep,
) -> CodeRequested:
    """Send a sign-in code to an enrolled contact point. The answer never says whether it is."""
    now = clock.now()
    get_rate_limiter(request).take(
        "portal-code", contact_digest(key, body.system, body.value), now=now
    )
    challenge_id, pending = request_code(
        session,
        key=key,
        system=body.system,
        value=body.value,
        now=now,
        chosen_language=_worded(body.language),
    )
    if pending is not None:
        # Sent after the response, i.e. after the code is committed.
        background.add_task(
            get_code_sender(request).send_code,
            channel=pending.channel,
            to=pending.to,
            code=pending.code,
            expires_minutes=int(CODE_TTL.total_seconds() // 60),
            language=pending.language,
        )
    return CodeRequested(
        challenge_id=challenge_id,
        expires_in_seconds=int(CODE_TTL.total_seconds()),
        message="If this contact point is enrolled, a code is on its way.",
    )


@router.post(
    "/api/portal/verify", response_model=PortalToken, dependencies=[Depends(rate_limit("signin"))]
)
def portal_verify_code(
    body: CodeVerify, request: Request, session: SessionDep, clock: ClockDep, key: SigningKeyDep
) -> PortalToken:
    """Trade the code for a short-lived portal token (5 tries, 10 minutes)."""
    minutes = get_runtime(request).settings.security.portal_token_minutes
    try:
        user, issued = verify_code(
            session,
            key=key,
            challenge_id=body.challenge_id,
            code=body.code,
            clock=clock,
            token_ttl=timedelta(minutes=minutes),
        )
    except NotAuthenticated:
        session.commit()  # the failed try must count
        raise
    principal = principal_for_user(user)
    if principal.role == Role.CAREGIVER:
        principal = with_proxy_grants(session, principal)
    audit_security(session, clock, principal, AuditAction.CREATE, "portal-session")
    return PortalToken(
        access_token=issued.token,
        expires_at=issued.expires_at.isoformat(),
        role=user.role,
        patient_ids=sorted(principal.patient_ids),
    )


@router.post("/api/patients/{patient_id}/portal-contacts", response_model=EnrolOut, status_code=201)
def enrol_contact(
    body: EnrolRequest,
    key: SigningKeyDep,
    reach: Annotated[PatientReach, reached("patients:write")],
) -> EnrolOut:
    """Staff attest that a contact point on the record belongs to the patient (or caregiver)."""
    if not reach.principal.is_staff:
        raise PermissionDenied("only staff enrol portal contact points")
    row = enroll_portal_contact(
        reach.session,
        key=key,
        patient_id=reach.patient_id,
        system=body.system,
        value=body.value,
        caregiver_id=body.caregiver_id,
        actor=reach.principal.actor,
        clock=reach.clock,
    )
    reach.audit(AuditAction.CREATE, "portal-contact")
    return EnrolOut(
        id=row.id, system=row.system, caregiver_id=row.caregiver_id, verified_at=row.verified_at
    )


def _grants_principal(principal: Principal, patient_id: str) -> None:
    check_patient_access(principal, patient_id)
    if principal.role == Role.CAREGIVER:
        raise PermissionDenied("only the patient or staff manage proxy access")


@router.get("/api/patients/{patient_id}/proxy-grants", response_model=list[GrantOut])
def list_grants(
    patient_id: str,
    session: SessionDep,
    clock: ClockDep,
    principal: Annotated[Principal, Depends(require("consent:read"))],
) -> list[GrantOut]:
    """Who may act for this patient, and in what."""
    _grants_principal(principal, patient_id)
    records.get_patient(session, patient_id)
    grants = active_grants(session, patient_id=patient_id)
    audit_patient_access(session, clock, principal, patient_id, AuditAction.READ, "proxy-grant")
    return [_grant_out(g) for g in grants]


@router.post("/api/patients/{patient_id}/proxy-grants", response_model=GrantOut, status_code=201)
def create_grant(
    patient_id: str,
    body: GrantIn,
    session: SessionDep,
    clock: ClockDep,
    principal: ConsentWriter,
) -> GrantOut:
    """Let a caregiver on the record act for the patient within ``scopes`` (replaces any)."""
    _grants_principal(principal, patient_id)
    records.get_patient(session, patient_id)
    grant = grant_proxy(
        session,
        patient_id=patient_id,
        caregiver_id=body.caregiver_id,
        scopes=body.scopes,
        actor=principal.actor,
        now=clock.now(),
    )
    audit_patient_access(
        session,
        clock,
        principal,
        patient_id,
        AuditAction.CREATE,
        "proxy-grant",
        detail={"scopes": list(grant.scopes)},
    )
    return _grant_out(grant)


@router.delete("/api/patients/{patient_id}/proxy-grants/{grant_id}", response_model=GrantOut)
def delete_grant(
    patient_id: str,
    grant_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
    session: SessionDep,
    clock: ClockDep,
    principal: ConsentWriter,
) -> GrantOut:
    """Revoke a proxy grant; it stops working on the caregiver's next request."""
    _grants_principal(principal, patient_id)
    grant = revoke_proxy(
        session, patient_id=patient_id, grant_id=grant_id, actor=principal.actor, now=clock.now()
    )
    audit_patient_access(session, clock, principal, patient_id, AuditAction.DELETE, "proxy-grant")
    return _grant_out(grant)
