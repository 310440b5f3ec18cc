"""Tables of the FHIR interface: SMART backend clients, the assertions they used, and Bulk
Data export jobs with their NDJSON files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, UTCDateTime


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
    status: Mapped[str] = mapped_column(String(16))  # complete | cancelled
    transaction_time: Mapped[datetime] = mapped_column(UTCDateTime())
    errors: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)


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
