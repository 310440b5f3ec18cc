"""Tables of the medications domain: dose slots, confirmations, exam preparation, AE cases.

The medication plan itself comes from the record (MedicationRequest / Statement / Dispense in
``fhir_resources``); these tables keep only what careloop adds to it: the daily dose slots a
reminder goes out for (with what was learned about the patient's own routine), the patient's
answers, the state of an exam-preparation journey, and adverse-event cases of patient-support
programs. No free text a patient wrote is kept here (only matched terms).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import IndexedPatientId, JSONType, SerialId, UTCDateTime


class MedicationSlot(Base):
    """One daily dose of one medication (e.g. metformin, evening) and its reminder state."""

    __tablename__ = "medication_slots"

    id: Mapped[SerialId]
    patient_id: Mapped[IndexedPatientId]
    medication_key: Mapped[str] = mapped_column(String(128))
    medication: Mapped[str] = mapped_column(String(200))
    slot: Mapped[str] = mapped_column(String(32))
    default_minute: Mapped[int] = mapped_column(Integer)
    timing: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    caregiver_managed: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(200))
    last_reminded_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("patient_id", "medication_key", "slot"),)


class DoseConfirmation(Base):
    """A patient's answer for one dose: taken, later or skipped, when and by which channel."""

    __tablename__ = "dose_confirmations"

    id: Mapped[SerialId]
    slot_id: Mapped[int] = mapped_column(
        ForeignKey("medication_slots.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[IndexedPatientId]
    answer: Mapped[str] = mapped_column(String(16))
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    local_minute: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    source: Mapped[str | None] = mapped_column(String(200))
    created_by: Mapped[str] = mapped_column(String(128))


class PrepJourney(Base):
    """One exam preparation (e.g. colonoscopy bowel prep) with teach-back, for one appointment."""

    __tablename__ = "prep_journeys"

    id: Mapped[SerialId]
    patient_id: Mapped[IndexedPatientId]
    kind: Mapped[str] = mapped_column(String(64))
    appointment_at: Mapped[datetime] = mapped_column(UTCDateTime())
    step: Mapped[int] = mapped_column(Integer, default=0)
    wrong_answers: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str | None] = mapped_column(String(32))
    task_item_id: Mapped[int | None] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AdverseEventCase(Base):
    """A side effect reported in a patient-support program, handled as an adverse event."""

    __tablename__ = "adverse_event_cases"

    id: Mapped[SerialId]
    patient_id: Mapped[IndexedPatientId]
    program: Mapped[str] = mapped_column(String(64))
    product: Mapped[str] = mapped_column(String(200))
    product_code: Mapped[str | None] = mapped_column(String(128))
    reporter: Mapped[str] = mapped_column(String(32))
    event_terms: Mapped[list[str]] = mapped_column(JSONType, default=list)
    serious: Mapped[bool] = mapped_column(Boolean, default=False)
    seriousness: Mapped[list[str]] = mapped_column(JSONType, default=list)
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    triaged_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    triaged_by: Mapped[str | None] = mapped_column(String(128))
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
