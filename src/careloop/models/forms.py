"""Tables of the forms domain: forms sent to a patient's phone and signed there.

One row per form sent. The link's token names the row (random id + HMAC), so the row is
what expires, counts failed identity checks and records that the form was signed; what was
signed lives in the record as FHIR (QuestionnaireResponse, Consent, DocumentReference and
the Provenance carrying the signature), named in ``signed_resources``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import JSONType, PatientId, UTCDateTime


class FormRequest(Base):
    """A form sent: ``sent`` → ``signed`` | ``locked`` (``forms.requests``); expiry is a time."""

    __tablename__ = "form_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    patient_id: Mapped[PatientId]
    form: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_by: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_checks: Mapped[int] = mapped_column(Integer, default=0)
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    document_sha256: Mapped[str | None] = mapped_column(String(64))
    signed_resources: Mapped[list[str] | None] = mapped_column(JSONType)

    __table_args__ = (Index("ix_form_requests_patient", "patient_id", "sent_at"),)
