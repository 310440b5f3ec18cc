"""Staff accounts, sign-in with back-off, and scoped, expiring, revocable bearer tokens.

Tokens are random 256-bit secrets shown once; only their SHA-256 is stored, so a database
leak does not leak working credentials.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import Conflict, InvalidInput, NotAuthenticated
from careloop.models import ApiToken, User
from careloop.security.backoff import (
    ACCOUNT_MAX_DELAY,
    backoff_delay,
    source_failed,
    source_succeeded,
    source_waiting,
)
from careloop.security.password_policy import check_password
from careloop.security.passwords import dummy_hash, hash_password, verify_password
from careloop.security.principal import Principal
from careloop.security.roles import PERMISSIONS, Role
from careloop.security.totp import check_totp, totp_required

DEFAULT_TOKEN_TTL = timedelta(hours=12)
LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKEN_PREFIX = "clt_"  # noqa: S105 - a recognisable prefix, not a secret


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime
    token_id: int


def create_user(
    session: Session,
    *,
    clock: Clock,
    username: str,
    password: str | None,
    role: Role | str,
    display_name: str | None = None,
    patient_id: str | None = None,
    teams: list[str] | None = None,
) -> User:
    """Create an account. Weak passwords are refused (:mod:`.password_policy`)."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise InvalidInput(f"unknown role {role!r}", field="role") from exc
    if not username or len(username) > 150:
        raise InvalidInput("username must be 1-150 characters", field="username")
    if password is not None:
        check_password(password, user_inputs=(username, display_name or ""))
    if role in (Role.PATIENT, Role.CAREGIVER) and not patient_id and role is Role.PATIENT:
        raise InvalidInput("a patient account needs patient_id", field="patient_id")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict("username already taken")
    user = User(
        username=username,
        password_hash=hash_password(password) if password else None,
        role=str(role),
        display_name=display_name,
        patient_id=patient_id,
        teams=teams or [],
        active=True,
        failed_logins=0,
        created_at=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def authenticate_password(
    session: Session,
    *,
    clock: Clock,
    username: str,
    password: str,
    source: str | None = None,
    otp: str | None = None,
) -> User:
    """Check a password, with exponential back-off per account and per ``source`` (the
    client's address; both waits are kept in the database, :mod:`.backoff`).

    One answer for an unknown user, a wrong password and an attempt made while backing off,
    and one Argon2 verification on every path (against a dummy hash when there is no usable
    account), so neither the answer nor its time reveals which usernames exist. An account
    with a second factor also needs a fresh ``otp`` (:mod:`.totp`); a missing or wrong code
    counts as a failure and gets the same answer.
    """
    now = clock.now()
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or user.password_hash is None:
        verify_password(dummy_hash(), password)
        _source_failed(session, source, now)
        raise NotAuthenticated("invalid credentials")
    waiting = (user.locked_until is not None and user.locked_until > now) or (
        source is not None and source_waiting(session, source, now=now)
    )
    correct = verify_password(user.password_hash, password)
    if waiting:
        raise NotAuthenticated("invalid credentials")
    if correct and totp_required(user):
        correct = check_totp(user, otp, now=now)
    if not correct:
        user.failed_logins += 1
        delay = backoff_delay(user.failed_logins, cap=ACCOUNT_MAX_DELAY)
        user.locked_until = now + delay if delay else None
        session.flush()
        _source_failed(session, source, now)
        raise NotAuthenticated("invalid credentials")
    user.failed_logins = 0
    user.locked_until = None
    session.flush()
    if source is not None:
        source_succeeded(session, source)
    return user


def _source_failed(session: Session, source: str | None, now: datetime) -> None:
    if source is not None:
        source_failed(session, source, now=now)


def token_digest(token: str) -> str:
    """What is stored of a token (its SHA-256), and what caches key it by."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    *,
    clock: Clock,
    user: User,
    name: str = "api",
    scopes: list[str] | None = None,
    ttl: timedelta = DEFAULT_TOKEN_TTL,
    kind: str = "api",
) -> IssuedToken:
    """Issue a bearer token for ``user``; scopes must be a subset of the role's permissions."""
    allowed = PERMISSIONS[Role(user.role)]
    unknown = sorted(set(scopes or []) - allowed)
    if unknown:
        raise InvalidInput(f"scopes not granted to role {user.role}: {unknown}", field="scopes")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    row = ApiToken(
        token_hash=token_digest(token),
        user_id=user.id,
        name=name,
        scopes=sorted(scopes or []),
        kind=kind,
        created_at=now,
        expires_at=now + ttl,
    )
    session.add(row)
    session.flush()
    return IssuedToken(token=token, expires_at=row.expires_at, token_id=row.id)


def revoke_token_value(session: Session, *, clock: Clock, token: str) -> None:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    if row is not None:
        row.revoked_at = row.revoked_at or clock.now()
        session.flush()


def principal_for_user(user: User, *, scopes: list[str] | None = None) -> Principal:
    """The principal a signed-in user acts as (patients act for themselves only)."""
    role = Role(user.role)
    patient_ids: frozenset[str] = frozenset()
    if role is Role.PATIENT and user.patient_id:
        patient_ids = frozenset({user.patient_id})
    return Principal(
        actor=f"user:{user.id}",
        role=role,
        user_id=user.id,
        patient_ids=patient_ids,
        scopes=frozenset(scopes or []),
    )


def authenticate_token(
    session: Session, *, clock: Clock, token: str, session_idle: timedelta | None = None
) -> tuple[User, ApiToken]:
    """The user behind a token; expired, revoked or unknown tokens are refused.

    A console session (kind ``session``) also ends after ``session_idle`` without use: its
    absolute lifetime is ``expires_at``, its idle limit is measured from ``last_used_at``
    (kept to the minute) or, before the first use, from its creation.
    """
    if not token.startswith(TOKEN_PREFIX):
        raise NotAuthenticated("invalid token")
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_digest(token)))
    now = clock.now()
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise NotAuthenticated("invalid or expired token")
    if session_idle is not None and row.kind == "session":
        last = row.last_used_at or row.created_at
        if now - last > session_idle + LAST_USED_RESOLUTION:
            raise NotAuthenticated("session ended after inactivity")
    user = session.get(User, row.user_id)
    if user is None or not user.active:
        raise NotAuthenticated("invalid token")
    # Touch the row at most once a minute: writing it on every request would lock it until
    # commit and serialize every request made with the same token.
    if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
        row.last_used_at = now
    return user, row
