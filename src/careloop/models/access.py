"""Tables of the access domain: offers of slots, holds and bookings, rides, the waitlist.

``access_bookings.active_slot`` is the Slot id while a hold or a booking is live and NULL once
it is cancelled, released or expired; its unique constraint is what makes double booking
impossible when two replies race for one slot on several workers (NULLs never collide), the
same pattern as the worklist's ``open_key``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, JSONType, PatientId, UTCDateTime, partial_index

LIVE_BOOKINGS = "state IN ('held', 'booked')"
"""A hold or booking still on the calendar (what the appointments page lists)."""


class AccessOffer(Base):
    """Slots offered to one patient at once (by text, in the portal or by a signed link)."""

    __tablename__ = "access_offers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[PatientId]
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    service: Mapped[str | None] = mapped_column(String(64))
    choices: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    booking_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_access_offers_patient_state", "patient_id", "state"),
        # The appointments page's offers in flight, soonest to expire first.
        partial_index("ix_access_offers_open_expiry", "expires_at", "id", where="state = 'open'"),
    )


class AccessBooking(Base):
    """A hold on a slot (with its expiry) that becomes a booked Appointment, or is let go."""

    __tablename__ = "access_bookings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[PatientId]
    slot_id: Mapped[str] = mapped_column(String(64), index=True)
    active_slot: Mapped[str | None] = mapped_column(String(64), unique=True)
    offer_id: Mapped[str | None] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16), index=True)
    mode: Mapped[str] = mapped_column(String(16))
    ride: Mapped[bool] = mapped_column(Boolean, default=False)
    channel: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(UTCDateTime())
    end: Mapped[datetime] = mapped_column(UTCDateTime())
    held_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    appointment_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        Index("ix_access_bookings_patient_state", "patient_id", "state"),
        # The appointments page's upcoming visits, soonest first.
        partial_index("ix_access_bookings_live_start", "start", "id", where=LIVE_BOOKINGS),
    )


class AccessRide(Base):
    """A non-emergency ride to a booked visit, as the ride provider reports it."""

    __tablename__ = "access_rides"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    booking_id: Mapped[str] = mapped_column(
        ForeignKey("access_bookings.id", ondelete="CASCADE"), index=True
    )
    patient_id: Mapped[PatientId]
    provider: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    pickup_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WaitlistEntry(Base):
    """A patient who wants an earlier slot for a service; back-filled from cancellations."""

    __tablename__ = "access_waitlist"

    id: Mapped[BigSerialId]
    patient_id: Mapped[PatientId]
    service: Mapped[str | None] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    noshow_risk: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), index=True)
    offer_id: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
