"""Tables of governance: staff accounts, API tokens, console sessions, the audit chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.crypto import EncryptedText
from careloop.models.base import Base
from careloop.models.types import BigInt, BigSerialId, JSONType, SerialId, UTCDateTime


class User(Base):
    """A staff member (or a portal patient/caregiver account) who signs in."""

    __tablename__ = "users"

    id: Mapped[SerialId]
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str | None] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    teams: Mapped[list[str]] = mapped_column(JSONType, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Optional second factor (security.totp): the shared secret, encrypted at rest, and the
    # last accepted 30-second step, so a code cannot be used twice.
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText())
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)


class ApiToken(Base):
    """A bearer token: only its SHA-256 is stored; scoped, expiring, revocable."""

    __tablename__ = "api_tokens"

    id: Mapped[SerialId]
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    kind: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigninSource(Base):
    """Failed sign-ins from one client address and when it may try again (back-off).

    In the database, not in a process's memory, so every web process holds the same address
    to the same wait and a restart forgets nothing. A row goes on success or, through the
    ``signin-sources`` retention target, a day after its last failure.
    """

    __tablename__ = "signin_sources"

    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    wait_until: Mapped[datetime] = mapped_column(UTCDateTime())
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AuditEvent(Base):
    """One read or write of patient data. Append-only and hash-chained.

    ``hash`` = SHA-256 of the previous row's hash and this row's canonical content, so any
    edit, deletion or reordering breaks the chain that ``careloop audit verify`` walks.
    """

    __tablename__ = "audit_events"

    id: Mapped[BigSerialId]
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    actor_role: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(16))
    resource: Mapped[str] = mapped_column(String(200))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16), default="success")
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditChainHead(Base):
    """The single row that serializes appends to the audit chain (locked FOR UPDATE)."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(BigInt, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class ConsentRecord(Base):
    """One consent decision (grant or denial) for a purpose and channel. Never updated.

    ``purpose`` or ``channel`` may be ``"*"`` (all): an SMS STOP is ``("*", "sms", denied)``.
    The current state is derived from the history (see :mod:`careloop.governance.consent`),
    so every change stays explainable: who, when, from which source.
    """

    __tablename__ = "consent_records"

    id: Mapped[BigSerialId]
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    purpose: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))
    fhir_consent_id: Mapped[str | None] = mapped_column(String(128), index=True)
    note: Mapped[str | None] = mapped_column(String(500))


class NumberOptOut(Base):
    """A STOP (or START) from a caregiver's number: texts and automated calls to that number
    stop, whoever's patient they are about. Never updated; the latest row decides.

    Kept apart from ``consent_records``, which are one patient's own: a caregiver's STOP
    is the caregiver's choice, never the patient's. Keyed by the number in E.164 as the
    outbox addresses it (``outreach_outbox.to_address`` holds it the same way), not by the
    contact look-up's keyed digest, which a key rotation rebuilds: an opt-out must survive it.
    """

    __tablename__ = "number_opt_outs"

    id: Mapped[BigSerialId]
    address: Mapped[str] = mapped_column(String(320), index=True)
    status: Mapped[str] = mapped_column(String(16))
    """``denied`` (STOP) or ``granted`` (START), as in ``consent_records``."""
    source: Mapped[str] = mapped_column(String(32))
    sender: Mapped[str | None] = mapped_column(String(200))
    """Our number the keyword was sent to (the STOP applies to all of careloop's senders)."""
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(200))


class PortalContact(Base):
    """A verified contact point that may receive portal sign-in codes.

    ``digest`` is a keyed HMAC of the normalised value (an index that reveals nothing);
    ``value`` itself is encrypted at rest.
    """

    __tablename__ = "portal_contacts"

    id: Mapped[SerialId]
    digest: Mapped[str] = mapped_column(String(64), index=True)
    system: Mapped[str] = mapped_column(String(16))
    value: Mapped[str] = mapped_column(EncryptedText())
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    caregiver_id: Mapped[str | None] = mapped_column(String(128), index=True)
    verified_at: Mapped[datetime] = mapped_column(UTCDateTime())
    verified_by: Mapped[str] = mapped_column(String(200))


class PortalCode(Base):
    """A one-time sign-in code: only its keyed hash is stored; 10 minutes, 5 tries."""

    __tablename__ = "portal_codes"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProxyGrant(Base):
    """A patient lets a caregiver (RelatedPerson) act for them, within named scopes."""

    __tablename__ = "proxy_grants"

    id: Mapped[SerialId]
    patient_id: Mapped[str] = mapped_column(String(64), index=True)
    caregiver_id: Mapped[str] = mapped_column(String(128), index=True)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime())
    granted_by: Mapped[str] = mapped_column(String(200))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(200))


class AuditCheckpoint(Base):
    """Stands in for a purged prefix of the audit chain, so verification still works.

    Carries the hash of the last purged event, the cumulative count purged, aggregate
    counts of what was purged, and an HMAC signature over all of it.
    """

    __tablename__ = "audit_checkpoints"

    id: Mapped[SerialId]
    upto_event_id: Mapped[int] = mapped_column(BigInt)
    upto_hash: Mapped[str] = mapped_column(String(64))
    purged_total: Mapped[int] = mapped_column(BigInt)
    aggregates: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    prev_signature: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(64))


class RetentionRun(Base):
    """What one purge removed from one retention target, with the aggregates it kept."""

    __tablename__ = "retention_runs"

    id: Mapped[SerialId]
    target: Mapped[str] = mapped_column(String(64), index=True)
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime())
    deleted: Mapped[int] = mapped_column(Integer)
    aggregates: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class InstanceSecret(Base):
    """A secret generated once and kept with the database: with no ``security.secret_key``
    configured, every process on this database signs links with ``name="signing"``."""

    __tablename__ = "instance_secrets"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
