"""Tables of the FHIR interface: SMART backend clients, the assertions they used, Bulk
Data export jobs with their NDJSON files, Subscriptions and their notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.crypto import EncryptedJSON, EncryptedText
from careloop.models.base import Base
from careloop.models.types import JSONType, SerialId, UTCDateTime


class SmartClient(Base):
    """A registered SMART backend-services client: its public keys and allowed scopes.

    Tokens it obtains are issued to ``user_id``, a service account without a password.
    """

    __tablename__ = "smart_clients"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    jwks: Mapped[dict[str, Any]] = mapped_column(JSONType)
    scopes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SmartAssertion(Base):
    """A client assertion's ``jti``, kept until it expires so it cannot be replayed."""

    __tablename__ = "smart_assertions"

    client_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    jti: Mapped[str] = mapped_column(String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class BulkExport(Base):
    """One Bulk Data ``$export`` request: who asked, what, and its state."""

    __tablename__ = "bulk_exports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    request_url: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))  # system | patient | group
    group_id: Mapped[str | None] = mapped_column(String(200))
    types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16))  # in-progress|complete|error|cancelled
    transaction_time: Mapped[datetime] = mapped_column(UTCDateTime())
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    # Fixed at kick-off, so the worker writes what the requester may see: the patients
    # (None = all) and the role the export is audited under.
    patients: Mapped[list[str] | None] = mapped_column(JSONType)
    requested_role: Mapped[str | None] = mapped_column(String(32))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class BulkExportFile(Base):
    """One NDJSON output file of an export (one per resource type)."""

    __tablename__ = "bulk_export_files"

    export_id: Mapped[str] = mapped_column(
        ForeignKey("bulk_exports.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    resource_type: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)


class FhirSubscription(Base):
    """A topic-based Subscription (R4 backport) or the configured EHR push (``ehr-push``).

    ``watermark`` is the last-update time the next scan looks back from; ``events`` counts
    the event notifications created since the start (``events-since-subscription-start``).
    The HMAC secret and the channel headers are encrypted at rest.
    """

    __tablename__ = "fhir_subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # rest-hook | ehr-push
    topic: Mapped[str] = mapped_column(String(200))
    filters: Mapped[list[str]] = mapped_column(JSONType, default=list)
    status: Mapped[str] = mapped_column(String(16), index=True)  # requested|active|error|off
    endpoint: Mapped[str] = mapped_column(Text)
    payload: Mapped[str] = mapped_column(String(16))  # empty | id-only | full-resource
    secret: Mapped[str | None] = mapped_column(EncryptedText())
    headers: Mapped[list[str]] = mapped_column(EncryptedJSON(), default=list)
    heartbeat_seconds: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    watermark: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(Integer, default=0)
    last_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class FhirSubscriptionSeen(Base):
    """The version of a resource a subscription last notified, so a scan notifies a change
    once (and again only when the resource changes)."""

    __tablename__ = "fhir_subscription_seen"

    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_subscriptions.id", ondelete="CASCADE"), primary_key=True
    )
    focus: Mapped[str] = mapped_column(String(200), primary_key=True)  # Flag/alert-7
    version_id: Mapped[str] = mapped_column(String(64))


class FhirNotification(Base):
    """One notification to deliver: a handshake, a heartbeat or an event about ``focus``.

    The body is built at send time from the current resource (no second copy of PHI is
    kept); ``last_error`` holds an HTTP status or an exception class, never a response body.
    """

    __tablename__ = "fhir_notifications"
    __table_args__ = (Index("ix_fhir_notifications_due", "status", "next_attempt_at"),)

    id: Mapped[SerialId]
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("fhir_subscriptions.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))  # handshake|heartbeat|event-notification
    event_number: Mapped[int | None] = mapped_column(Integer)
    focus: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))  # pending | delivered | dead
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
