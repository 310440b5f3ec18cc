"""Tables of the consolidated patient record and the FHIR resources behind it."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.crypto import EncryptedJSON
from careloop.models.base import Base
from careloop.models.types import IndexedPatientId, JSONType, SerialId, UTCDateTime

CODE_ELEMENTS = text("string_to_array(codes, ' ')")
"""The indexed expression over ``fhir_resources.codes``; a query spells it the same way."""


class Patient(Base):
    """One record per real person, however many sources describe them.

    Demographic columns are derived from the linked FHIR ``Patient`` resources on every
    import, so they are a cache of the resources, not a second truth.
    """

    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    given_name: Mapped[str | None] = mapped_column(String(200))
    family_name: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date | None] = mapped_column(Date, index=True)
    gender: Mapped[str | None] = mapped_column(String(16), index=True)
    language: Mapped[str | None] = mapped_column(String(35), index=True)
    timezone: Mapped[str] = mapped_column(String(64))
    timezone_source: Mapped[str] = mapped_column(String(16))
    deceased: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    deceased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    race: Mapped[str | None] = mapped_column(String(100))
    ethnicity: Mapped[str | None] = mapped_column(String(100))
    # Encrypted at rest when ``security.encryption_key`` is set (see docs/security.md);
    # look-ups by value go through ``contact_lookup``.
    contact_points: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(), default=list)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        # A queued night's slice is a range of this hash (``compose.queue``); PostgreSQL only.
        Index("ix_patients_id_hash", text("hashtext(id)")).ddl_if(dialect="postgresql"),
    )


class PatientIdentifier(Base):
    """An identifier (system|value) that links source records to one patient."""

    __tablename__ = "patient_identifiers"

    system: Mapped[str] = mapped_column(String(255), primary_key=True)
    value: Mapped[str] = mapped_column(String(255), primary_key=True)
    patient_id: Mapped[IndexedPatientId]


class FhirResource(Base):
    """A FHIR resource as received, with indexed columns for fast queries."""

    __tablename__ = "fhir_resources"

    resource_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    fhir_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    # looked up through ix_fhir_resources_patient_type (patient_id leads it)
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    patient_ref: Mapped[str | None] = mapped_column(String(200), index=True)
    status: Mapped[str | None] = mapped_column(String(64))
    effective_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    effective_end: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The resource's codings as space-separated ``system|code`` (``records.code_filter``).
    codes: Mapped[str] = mapped_column(Text, default="")
    supported: Mapped[bool] = mapped_column(Boolean, default=True)
    resource: Mapped[dict[str, Any]] = mapped_column(JSONType)
    source: Mapped[str | None] = mapped_column(String(500))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_fhir_resources_patient_type", "patient_id", "resource_type"),
        Index("ix_fhir_resources_type_start", "resource_type", "effective_start"),
        # "Who carries system|code": the codes' elements (PostgreSQL; SQLite scans the type).
        Index("ix_fhir_resources_codes", CODE_ELEMENTS, postgresql_using="gin").ddl_if(
            dialect="postgresql"
        ),
    )


class Caregiver(Base):
    """A RelatedPerson who may be contacted about a patient, with their availability."""

    __tablename__ = "caregivers"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    patient_id: Mapped[IndexedPatientId]
    name: Mapped[str | None] = mapped_column(String(300))
    relationship: Mapped[str | None] = mapped_column(String(100))
    language: Mapped[str | None] = mapped_column(String(35))
    """The preferred ``RelatedPerson.communication`` language ("es"); None: not recorded."""
    contact_points: Mapped[list[dict[str, Any]]] = mapped_column(EncryptedJSON(), default=list)
    availability: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    is_proxy: Mapped[bool] = mapped_column(Boolean, default=False)
    manages_medications: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    """Set by the care team: this caregiver gets a copy of the patient's dose reminders."""
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ContactLookup(Base):
    """Keyed digest of one contact point → its patient (and caregiver), for inbound look-ups."""

    __tablename__ = "contact_lookup"

    id: Mapped[SerialId]
    digest: Mapped[str] = mapped_column(String(64), index=True)
    patient_id: Mapped[IndexedPatientId]
    caregiver_id: Mapped[str | None] = mapped_column(String(128))
    system: Mapped[str] = mapped_column(String(16))


class ContactLookupState(Base):
    """One row: the fingerprint (key + normalisation scheme) the look-up digests were built
    with. A different fingerprint at start means the index is stale and must be rebuilt."""

    __tablename__ = "contact_lookup_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    fingerprint: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PhoneLineType(Base):
    """A line-type look-up's answer for one number, kept by keyed digest (never the number),
    so each number is asked once per ``channels.lookup.max_age_days``."""

    __tablename__ = "phone_line_types"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    line_type: Mapped[str | None] = mapped_column(String(32))
    """The provider's word (``mobile``, ``landline``, ``nonFixedVoip``...); null: unknown."""
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime())
