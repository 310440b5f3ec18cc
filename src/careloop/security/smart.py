"""SMART Backend Services: system clients authenticate with a signed JWT (private_key_jwt)
and get a short-lived bearer token limited to the scopes they were registered for.

A client is registered with its public JWKS (RS384 or ES384 keys) and allowed scopes
(``system/*.read``, ``system/Observation.rs``...). Its token is an ordinary careloop API token
of a password-less service account (role clinician, so it may reach any patient), whose
scopes are the SMART scopes granted plus the careloop permissions they open: the FHIR
router holds the caller to the SMART scopes per resource type, the rest of the API to the
permissions. Time comes from the injected clock, so ``exp`` is checked here, not by PyJWT.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import Conflict, InvalidInput, NotAuthenticated
from careloop.models import ApiToken, SmartAssertion, SmartClient
from careloop.security.auth import TOKEN_PREFIX, create_user
from careloop.security.roles import Role

ALGORITHMS = ("RS384", "ES384")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_TTL = timedelta(minutes=5)
MAX_ASSERTION_LIFETIME = timedelta(minutes=5)
_READ = frozenset({"patients:read", "patients:read_clinical", "content:read"})
_WRITE = frozenset({"patients:write"})


@dataclass(frozen=True)
class SmartToken:
    access_token: str
    expires_in: int
    scope: str


def split_scope(scope: str) -> tuple[str, str, str]:
    """``system/Observation.rs`` → ``("system", "Observation", "rs")``; missing parts are ""."""
    context, _, rest = scope.partition("/")
    rtype, _, mode = rest.partition(".")
    return context, rtype, mode


def _parse(scope: str) -> tuple[str, str, str]:
    context, rtype, mode = split_scope(scope)
    if context != "system" or not rtype or not mode:
        raise InvalidInput(f"scope {scope[:80]!r} is not a system/ scope", field="scope")
    return context, rtype, mode


def _is_system(scope: str) -> bool:
    try:
        _parse(scope)
    except InvalidInput:
        return False
    return True


def _covers(allowed: str, wanted: str) -> bool:
    _c, a_type, a_mode = _parse(allowed)
    _c, w_type, w_mode = _parse(wanted)
    if a_type not in ("*", w_type):
        return False
    if a_mode in ("*", w_mode):
        return True
    v2 = {"read": "rs", "write": "cud", "*": "cruds"}
    return set(v2.get(w_mode, w_mode)) <= set(v2.get(a_mode, a_mode))


def _permissions(scopes: list[str]) -> set[str]:
    perms: set[str] = set()
    for scope in scopes:
        mode = _parse(scope)[2]
        letters = {"read": "rs", "write": "cud", "*": "cruds"}.get(mode, mode)
        if set(letters) & set("rs"):
            perms |= _READ
        if set(letters) & set("cud"):
            perms |= _WRITE
    return perms


def _check_jwks(jwks: dict[str, Any]) -> None:
    raw = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("jwks: not a JSON Web Key Set", field="jwks")
    for key in raw:
        if not isinstance(key, dict) or not key.get("kid"):
            raise InvalidInput("jwks: every key needs a kid", field="jwks")
        if "d" in key:
            raise InvalidInput("jwks: private key material is refused", field="jwks")
    try:
        jwt.PyJWKSet.from_dict(jwks)
    except (jwt.PyJWKSetError, jwt.InvalidKeyError, KeyError, TypeError):
        raise InvalidInput("jwks: not a JSON Web Key Set", field="jwks") from None


def register_client(
    session: Session,
    *,
    clock: Clock,
    client_id: str,
    name: str,
    jwks: dict[str, Any],
    scopes: list[str],
) -> SmartClient:
    """Register a backend client (its service account is created with it)."""
    if not client_id or len(client_id) > 200:
        raise InvalidInput("client_id must be 1-200 characters", field="client_id")
    if not scopes:
        raise InvalidInput("at least one scope is required", field="scope")
    for scope in scopes:
        _parse(scope)
    _check_jwks(jwks)
    if session.get(SmartClient, client_id) is not None:
        raise Conflict("client_id already registered")
    user = create_user(
        session, clock=clock, username=f"smart:{client_id}", password=None, role=Role.CLINICIAN
    )
    row = SmartClient(
        client_id=client_id,
        name=name[:200],
        jwks=jwks,
        scopes=sorted(set(scopes)),
        user_id=user.id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    return row


def _claims(assertion: str, client: SmartClient, *, token_url: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(assertion)
        if header.get("alg") not in ALGORITHMS:
            raise NotAuthenticated("client_assertion: alg must be RS384 or ES384")
        keys = jwt.PyJWKSet.from_dict(client.jwks)
        key = next((k for k in keys.keys if k.key_id == header.get("kid")), None)
        if key is None:
            raise NotAuthenticated("client_assertion: no registered key with this kid")
        claims: dict[str, Any] = jwt.decode(
            assertion,
            key=key.key,
            algorithms=[header["alg"]],
            audience=token_url,
            issuer=client.client_id,
            options={"verify_exp": False, "require": ["iss", "sub", "aud", "exp", "jti"]},
        )
    except jwt.PyJWTError as exc:
        raise NotAuthenticated(f"client_assertion: {type(exc).__name__}") from None
    if claims.get("sub") != client.client_id:
        raise NotAuthenticated("client_assertion: sub must be the client_id")
    return claims


def exchange_assertion(
    session: Session,
    *,
    clock: Clock,
    grant_type: str,
    assertion_type: str,
    assertion: str,
    scope: str,
    token_url: str,
) -> SmartToken:
    """The token endpoint's work: check the signed assertion, grant what was asked and
    allowed, issue a bearer token. Raises NotAuthenticated (invalid_client) or
    InvalidInput (invalid_request / invalid_scope, ``field`` says which)."""
    if grant_type != "client_credentials":
        raise InvalidInput("grant_type must be client_credentials", field="grant_type")
    if assertion_type != ASSERTION_TYPE:
        raise InvalidInput(
            "client_assertion_type must be jwt-bearer", field="client_assertion_type"
        )
    try:
        issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss")
    except jwt.PyJWTError:
        raise NotAuthenticated("client_assertion: not a JWT") from None
    client = session.get(SmartClient, issuer) if isinstance(issuer, str) else None
    if client is None or client.revoked_at is not None:
        raise NotAuthenticated("unknown client")
    claims = _claims(assertion, client, token_url=token_url)
    now = clock.now()
    expires = datetime.fromtimestamp(int(claims["exp"]), tz=UTC)
    if expires <= now or expires > now + MAX_ASSERTION_LIFETIME + timedelta(seconds=60):
        raise NotAuthenticated("client_assertion: expired or valid for more than 5 minutes")
    wanted = scope.split()
    if not wanted:
        raise InvalidInput("scope is required", field="scope")
    # Scopes that are not system/ scopes (launch/patient, openid...) are not granted; a
    # server may grant fewer scopes than asked (RFC 6749 3.3) and says which in the answer.
    granted = [w for w in wanted if _is_system(w) and any(_covers(a, w) for a in client.scopes)]
    if not granted:
        raise InvalidInput("none of the requested scopes is allowed", field="scope")
    session.execute(delete(SmartAssertion).where(SmartAssertion.expires_at < now))
    try:
        with session.begin_nested():
            session.add(
                SmartAssertion(
                    client_id=client.client_id, jti=str(claims["jti"])[:200], expires_at=expires
                )
            )
            session.flush()
    except IntegrityError:
        raise NotAuthenticated("client_assertion: jti already used") from None
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            user_id=client.user_id,
            name=f"smart:{client.client_id}"[:100],
            scopes=sorted(set(granted) | _permissions(granted)),
            kind="api",
            created_at=now,
            expires_at=now + TOKEN_TTL,
        )
    )
    session.flush()
    return SmartToken(token, int(TOKEN_TTL.total_seconds()), " ".join(granted))
