"""Request dependencies: the transaction, the clock, and who is calling.

Every router takes its session from :data:`SessionDep` (committed before the response is
sent, rolled back on any error) and its caller from :func:`require`, the one place where
authentication and role checks happen. Deny by default.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from careloop.audit import AuditAction, AuditEntry, Auditor, Purpose, audit_entries
from careloop.clock import Clock
from careloop.crypto import signing_key
from careloop.db import session_scope
from careloop.errors import NotAuthenticated, NotFound, PermissionDenied
from careloop.governance.portal import CodeSender, UnconfiguredCodeSender
from careloop.governance.proxy import with_proxy_grants
from careloop.records.service import get_patient
from careloop.runtime import Runtime
from careloop.security.auth import (
    LAST_USED_RESOLUTION,
    authenticate_token,
    principal_for_user,
    token_digest,
)
from careloop.security.oidc import OidcVerifier, looks_like_jwt, user_for_claims
from careloop.security.permissions import check_recent_sign_in
from careloop.security.principal import Principal
from careloop.security.rate_limit import RateLimiter, default_limits
from careloop.security.roles import Role
from careloop.security.sessions import CSRF_HEADER, SAFE_METHODS, Face, check_csrf
from careloop.security.token_cache import TokenCache, VerifiedToken
from careloop.settings import Settings
from careloop.web.cookies import session_cookie

# Token kinds accepted per transport: console sessions only by the console's cookie (so a
# stolen cookie value cannot be replayed as a bearer token from a script, and vice versa);
# each face's cookie only with its own kind (security.sessions.Face.token_kind).
BEARER_KINDS = frozenset({"api", "portal"})


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_clock(request: Request) -> Clock:
    return get_runtime(request).clock


def get_settings(request: Request) -> Settings:
    return get_runtime(request).settings


def get_signing_key(request: Request) -> bytes:
    return signing_key(get_runtime(request).settings)


def get_rate_limiter(request: Request) -> RateLimiter:
    """The process's rate limiter (created on first use from ``security`` settings)."""
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "rate_limiter", None)
    if limiter is None:
        security = get_runtime(request).settings.security
        limiter = RateLimiter(
            default_limits(
                signin_per_minute=security.signin_per_minute,
                webhook_per_second=security.webhook_per_second,
            )
        )
        state.rate_limiter = limiter
    return limiter


def get_code_sender(request: Request) -> CodeSender:
    """Set ``app.state.code_sender`` to the SMS/email adapter (a fake in tests)."""
    sender: CodeSender | None = getattr(request.app.state, "code_sender", None)
    return sender if sender is not None else UnconfiguredCodeSender()


def _oidc_verifier(request: Request) -> OidcVerifier | None:
    state = request.app.state
    if not hasattr(state, "oidc_verifier"):
        oidc = get_runtime(request).settings.security.oidc
        state.oidc_verifier = OidcVerifier(oidc) if oidc.issuer else None
    verifier: OidcVerifier | None = state.oidc_verifier
    return verifier


def _session(request: Request) -> Iterator[Session]:
    """The request's transaction: committed before the response is sent."""
    with session_scope(get_runtime(request).sessions) as session:
        yield session


SessionDep = Annotated[Session, Depends(_session, scope="function")]


# The dependencies that only read app state are ``async``: FastAPI runs a plain ``def``
# dependency on a worker thread, a hop costing more than the work itself.
async def _clock(request: Request) -> Clock:
    return get_clock(request)


async def _settings(request: Request) -> Settings:
    return get_settings(request)


ClockDep = Annotated[Clock, Depends(_clock)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SigningKeyDep = Annotated[bytes, Depends(get_signing_key)]


def client_address(request: Request) -> str:
    """The caller's address: the peer's, or behind a trusted proxy the client it forwarded
    (:mod:`careloop.web.forwarded` has rewritten ``request.client`` by then)."""
    return request.client.host if request.client else "unknown"


def rate_limit(name: str) -> Callable[..., None]:
    """A dependency spending one token of limit ``name`` for the client's address.

    Webhook routers use ``Depends(rate_limit("webhook"))``; sign-in routes use ``"signin"``.
    """

    def dependency(request: Request, clock: ClockDep) -> None:
        get_rate_limiter(request).take(name, client_address(request), now=clock.now())

    dependency.__name__ = f"rate_limit_{name.replace('-', '_')}"
    return dependency


def refuse_unsigned_webhook(request: Request) -> None:
    """Spend a ``webhook`` token for a request whose signature was refused (429 once the
    address has spent them all; the caller answers 403 otherwise).

    Only refused requests pay: a correctly signed callback is never rate-limited, since
    Twilio does not retry a status callback and a 429 would lose it. Charging after the
    check rather than before-and-refund means a valid callback is accepted even while the
    address's bucket is empty; a forged flood still costs one signature check each, about
    the cost of parsing the form.
    """
    get_rate_limiter(request).take("webhook", client_address(request), now=get_clock(request).now())


def authenticate(request: Request, session: SessionDep, clock: ClockDep) -> Principal:
    """The caller from a bearer token, an OIDC JWT or a console session cookie; 401 if none.

    Cookie-authenticated unsafe requests must carry the CSRF header; caregivers get exactly
    the patients and scopes their live proxy grants allow.
    """
    header = request.headers.get("authorization", "")
    token: str | None = None
    face: Face | None = None
    if header.lower().startswith("bearer "):
        token = header[7:].strip()
    elif (found := session_cookie(request)) is not None:
        face, token = found
    via_cookie = face is not None
    if not token or len(token) > 8192:
        raise NotAuthenticated("authentication required")
    verifier = None if via_cookie or not looks_like_jwt(token) else _oidc_verifier(request)
    if verifier is not None:
        claims = verifier.verify(token, now=clock.now())
        user = user_for_claims(
            session, claims=claims, username_claim=verifier.settings.username_claim
        )
        signed_in = claims.get("auth_time") or claims["iat"]
        principal = replace(
            principal_for_user(user), signed_in_at=datetime.fromtimestamp(float(signed_in), UTC)
        )
    elif via_cookie:
        idle = get_runtime(request).settings.security.console_idle_minutes
        user, row = authenticate_token(
            session, clock=clock, token=token, session_idle=timedelta(minutes=idle)
        )
        if face is None or row.kind != face.token_kind:
            raise NotAuthenticated("invalid token")
        if request.method not in SAFE_METHODS:
            check_csrf(
                get_signing_key(request),
                session_token=token,
                header_value=request.headers.get(CSRF_HEADER),
            )
        principal = replace(
            principal_for_user(user, scopes=list(row.scopes)), signed_in_at=row.created_at
        )
    else:
        principal = _bearer_principal(request, session, clock, token)
    if principal.role == Role.CAREGIVER:
        principal = with_proxy_grants(session, principal)
    return replace(principal, source=client_address(request))


def _token_cache(request: Request) -> TokenCache | None:
    """The process's cache of verified bearer tokens (None when
    ``security.token_cache_seconds`` is 0), made on first use."""
    state = request.app.state
    if not hasattr(state, "token_cache"):
        ttl = get_runtime(request).settings.security.token_cache_seconds
        state.token_cache = TokenCache(ttl) if ttl > 0 else None
    cache: TokenCache | None = state.token_cache
    return cache


def _bearer_principal(request: Request, session: Session, clock: Clock, token: str) -> Principal:
    """The principal of an API or portal bearer token: from the process's token cache when
    it was verified within ``security.token_cache_seconds``, else from the database."""
    cached = _cached_principal(request, clock, token)
    if cached is not None:
        return cached
    cache = _token_cache(request)
    idle = timedelta(minutes=get_runtime(request).settings.security.console_idle_minutes)
    user, row = authenticate_token(session, clock=clock, token=token, session_idle=idle)
    if row.kind not in BEARER_KINDS:
        raise NotAuthenticated("invalid token")
    principal = replace(
        principal_for_user(user, scopes=list(row.scopes)), signed_in_at=row.created_at
    )
    if cache is not None:
        verified = VerifiedToken(principal, row.kind, row.expires_at, row.last_used_at)
        cache.put(token_digest(token), verified)
    return principal


def _cached_principal(request: Request, clock: Clock, token: str) -> Principal | None:
    """The principal of a bearer token in the process's cache and still usable, else None."""
    cache = _token_cache(request)
    hit = cache.get(token_digest(token)) if cache is not None else None
    if hit is None or not hit.usable(clock.now(), last_used_resolution=LAST_USED_RESOLUTION):
        return None
    return hit.principal


def _authenticate_alone(request: Request, clock: Clock) -> Principal:
    with session_scope(get_runtime(request).sessions) as session:
        return authenticate(request, session, clock)


async def authenticate_quickly(request: Request, clock: ClockDep) -> Principal:
    """:func:`authenticate` for the busiest routes (the intake): a bearer token verified
    within ``security.token_cache_seconds`` answers on the event loop, without a worker
    thread or a database session; anything else (cookies, OIDC, caregivers, whose proxy
    grants are read per request, a token not cached) goes through :func:`authenticate` on
    a worker thread, in a transaction of its own."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    cached = _cached_principal(request, clock, token) if 0 < len(token) <= 8192 else None
    if cached is not None and cached.role != Role.CAREGIVER:
        return replace(cached, source=client_address(request))
    return await run_in_threadpool(_authenticate_alone, request, clock)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


def require(permission: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that admits only callers whose role (and token scope) grant ``permission``.

    The principal it returns remembers ``permission``, so :func:`check_patient_access` can
    hold a caregiver to the scopes the patient granted for exactly this kind of access.
    ``async``: the check reads nothing, so it runs on the event loop, not a worker thread.
    """

    async def dependency(principal: PrincipalDep, clock: ClockDep) -> Principal:
        if not principal.can(permission):
            raise PermissionDenied(f"role {principal.role} may not {permission}")
        check_recent_sign_in(principal, permission, now=clock.now())
        return replace(principal, permission=permission)

    dependency.__name__ = f"require_{permission.replace(':', '_')}"
    return dependency


@dataclass(frozen=True, slots=True)
class Acting:
    """A caller admitted for one permission (:func:`acting`), with the request's session and
    clock: what a route that is not about one patient works with."""

    session: Session
    clock: Clock
    principal: Principal

    def auditor(self, purpose: Purpose) -> Auditor:
        """An :class:`Auditor` of what this caller reads or changes, for ``purpose``."""
        return Auditor(self.session, self.clock, self.principal, purpose)


def acting(permission: str) -> Any:
    """The caller, admitted by :func:`require`, with the session and clock, as one dependency:
    ``act: Annotated[Acting, acting("...")]`` instead of the same three parameters."""

    allowed = require(permission)

    # A default, not an ``Annotated`` hint (see :func:`reached`).
    def dependency(
        session: SessionDep,
        clock: ClockDep,
        principal: Principal = Depends(allowed),  # noqa: B008 - FastAPI's dependency marker
    ) -> Acting:
        return Acting(session, clock, principal)

    dependency.__name__ = f"acting_{permission.replace(':', '_')}"
    return Depends(dependency)


def check_patient_access(principal: Principal, patient_id: str) -> None:
    """Patients reach their own record; caregivers what the patient granted; staff any.

    Refused with :class:`NotFound` (404), not 403, so that probing ids reveals nothing.
    """
    if not principal.may_act_for(patient_id):
        raise NotFound("no such patient")


@dataclass(frozen=True, slots=True)
class PatientReach:
    """A caller's checked reach to one patient's record (:func:`reach_patient`): what the
    route then does there is audited through it, without handing the four around again."""

    session: Session
    clock: Clock
    principal: Principal
    patient_id: str

    def audit(
        self,
        action: AuditAction,
        resource: str,
        *,
        staff_purpose: Purpose = Purpose.OPERATIONS,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """:func:`audit_patient_access` for this caller and patient."""
        reach = (self.session, self.clock, self.principal, self.patient_id)
        audit_patient_access(*reach, action, resource, staff_purpose=staff_purpose, detail=detail)

    def audit_reads(self, resources: Sequence[str], *, staff_purpose: Purpose) -> None:
        """One read event per resource, in order, under one lock of the audit chain (a page
        showing several of the patient's resources: the same rows, a third of the writes)."""
        purpose = staff_purpose if self.principal.is_staff else Purpose.PATIENT_REQUEST
        entries = [
            AuditEntry(self.principal, AuditAction.READ, r, purpose, (self.patient_id,))
            for r in resources
        ]
        audit_entries(self.session, clock=self.clock, entries=entries)


def reach_patient(
    session: Session,
    clock: Clock,
    principal: Principal,
    patient_id: str,
    *,
    on_record: bool = False,
) -> PatientReach:
    """:func:`check_patient_access`, and with ``on_record`` a 404 when no record has the id
    (staff reach any id, so a route that reads around the record checks it is there)."""
    check_patient_access(principal, patient_id)
    if on_record:
        get_patient(session, patient_id)
    return PatientReach(session, clock, principal, patient_id)


def reached(permission: str, *, on_record: bool = False) -> Any:
    """The route's ``{patient_id}`` reached by a caller who may ``permission``
    (:func:`require`, then :func:`reach_patient`): the check every patient route starts
    with, as one dependency, ``reach: Annotated[PatientReach, reached("...")]``."""

    allowed = require(permission)

    # A default, not an ``Annotated`` hint: under ``from __future__ import annotations``
    # FastAPI evaluates hints in the module's globals, where ``permission`` is not.
    def dependency(
        patient_id: str,
        session: SessionDep,
        clock: ClockDep,
        principal: Principal = Depends(allowed),  # noqa: B008 - FastAPI's dependency marker
    ) -> PatientReach:
        return reach_patient(session, clock, principal, patient_id, on_record=on_record)

    dependency.__name__ = f"reach_{permission.replace(':', '_')}"
    return Depends(dependency)


def audit_security(
    session: Session,
    clock: Clock,
    principal: Principal,
    action: AuditAction,
    resource: str,
    *,
    outcome: str = "success",
    patient_id: str | None = None,
) -> None:
    """Audit a sign-in, a token or session issued or revoked, or a read of the audit trail:
    the security events, all for :attr:`Purpose.SECURITY`."""
    purpose = Purpose.SECURITY
    _audit_one(session, clock, principal, action, resource, purpose, patient_id, outcome=outcome)


def audit_patient_access(
    session: Session,
    clock: Clock,
    principal: Principal,
    patient_id: str,
    action: AuditAction,
    resource: str,
    *,
    staff_purpose: Purpose = Purpose.OPERATIONS,
    detail: dict[str, Any] | None = None,
) -> None:
    """Audit one read or write of a patient's data: staff for ``staff_purpose``, a patient or
    caregiver at their own request."""
    purpose = staff_purpose if principal.is_staff else Purpose.PATIENT_REQUEST
    _audit_one(session, clock, principal, action, resource, purpose, patient_id, detail=detail)


def _audit_one(
    session: Session,
    clock: Clock,
    principal: Principal,
    action: AuditAction,
    resource: str,
    purpose: Purpose,
    patient_id: str | None,
    *,
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
) -> None:
    """One audit event about one patient (or none), as the faces record it."""
    entry = AuditEntry(principal, action, resource, purpose, (patient_id,), outcome, detail)
    audit_entries(session, clock=clock, entries=[entry])
