"""Tables of the feedback domain: check-in conversations held over SMS or a voice keypad.

Check-in answers and device readings themselves are FHIR resources in the patient record
(``fhir_resources``); only the state of a conversation in progress lives here, because a
reply arrives minutes or hours after the question and the process may restart in between.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, JSONType, PatientId, UTCDateTime


class CheckinConversation(Base):
    """One check-in asked one question per message; ``state`` is the serialised machine."""

    __tablename__ = "checkin_conversations"

    id: Mapped[BigSerialId]
    patient_id: Mapped[PatientId]
    questionnaire_id: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[dict[str, Any]] = mapped_column(JSONType)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    response_id: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_checkin_conversations_patient_status", "patient_id", "status"),)


class Device(Base):
    """A device allowed to post readings, and the one patient it posts for.

    ``patient_ref`` is the patient id the device puts in its topic (the FHIR Patient id);
    ``patient_id`` is the careloop patient it resolved to when registered. A revoked device
    keeps its row (who registered and revoked it, when) and is refused like an unknown one.
    """

    __tablename__ = "devices"

    device_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_ref: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[PatientId]
    status: Mapped[str] = mapped_column(String(16))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    registered_by: Mapped[str] = mapped_column(String(128))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (Index("ix_devices_patient_id", "patient_id"),)
