"""Tables of outreach: enrollments in a program's journey, the outbox, send attempts, sender
pacing and inbound replies.

The outbox row is written in the same transaction as the engine's decision, so a message is
either decided-and-queued or neither. Workers claim rows, record the attempt and commit
before calling the provider; ``idempotency_key`` is unique and stays the same across retries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from careloop.models.base import Base
from careloop.models.types import BigSerialId, JSONType, PatientId, UTCDateTime


class Enrollment(Base):
    """One patient in one program episode (a care gap, an appointment), and where they stand.

    ``episode`` distinguishes repeated enrollments in one program (each appointment is its own
    episode); ``anchors`` holds the record dates the journey waits are measured from.
    """

    __tablename__ = "outreach_enrollments"

    id: Mapped[BigSerialId]
    patient_id: Mapped[PatientId]
    program: Mapped[str] = mapped_column(String(128))
    episode: Mapped[str] = mapped_column(String(200))
    arm: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    anchors: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    fields: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    next_step: Mapped[int] = mapped_column(Integer, default=0)
    step_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_step_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unanswered: Mapped[int] = mapped_column(Integer, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_reply_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    enrolled_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    follow_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_reason: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        Index(
            "uq_outreach_enrollments_program_patient_episode",
            "program",
            "patient_id",
            "episode",
            unique=True,
        ),
        Index("ix_outreach_enrollments_due", "state", "step_due_at"),
        Index("ix_outreach_enrollments_patient", "patient_id", "state"),
        Index("ix_outreach_enrollments_state_changed", "state", "state_changed_at"),
    )


class OutboxMessage(Base):
    """One rendered message waiting to leave, leaving, or gone; see ``outreach.states``."""

    __tablename__ = "outreach_outbox"

    id: Mapped[BigSerialId]
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    enrollment_id: Mapped[int | None] = mapped_column(
        ForeignKey("outreach_enrollments.id", ondelete="SET NULL"), index=True
    )
    patient_id: Mapped[str] = mapped_column(String(64))  # indexed by ix_outreach_outbox_contact
    program: Mapped[str | None] = mapped_column(String(128))
    step: Mapped[str | None] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    recipient_kind: Mapped[str] = mapped_column(String(16), default="patient")
    caregiver_id: Mapped[str | None] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    sender: Mapped[str | None] = mapped_column(String(200))
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    html: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(35), default="en")
    extra: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    content_message: Mapped[str | None] = mapped_column(String(128))
    content_version_id: Mapped[int | None] = mapped_column(Integer)
    decision_id: Mapped[str | None] = mapped_column(String(36))
    propensity: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(24))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    provider_id: Mapped[str | None] = mapped_column(String(200))  # ix_outreach_outbox_provider_id
    last_error: Mapped[str | None] = mapped_column(String(64))
    dead_reason: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    contact_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """When the worker let this message go to the gateway as a contact of the patient (the
    contact budget counts these, under a per-patient lock; ``outreach.budget``)."""

    __table_args__ = (
        Index("ix_outreach_outbox_claim", "state", "next_attempt_at"),
        Index("ix_outreach_outbox_contact", "patient_id", "contact_at"),
        # Only rows with a provider id: nothing looks up NULL, and every version of a row
        # not yet sent had an entry (migration 0650).
        Index(
            "ix_outreach_outbox_provider_id",
            "provider_id",
            postgresql_where=text("provider_id IS NOT NULL"),
            sqlite_where=text("provider_id IS NOT NULL"),
        ),
    )


class SendAttempt(Base):
    """One try at handing a message to a provider, recorded (and committed) before the call."""

    __tablename__ = "outreach_attempts"

    id: Mapped[BigSerialId]
    message_id: Mapped[int] = mapped_column(
        ForeignKey("outreach_outbox.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    worker: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(24))
    error: Mapped[str | None] = mapped_column(String(64))


class SenderSlot(Base):
    """The next moment a sender (``channel:address``) may send, advanced atomically by workers,
    and the worker that has it leased (:mod:`careloop.outreach.sender_leases`)."""

    __tablename__ = "outreach_sender_slots"

    sender_key: Mapped[str] = mapped_column(String(240), primary_key=True)
    next_slot_at: Mapped[datetime] = mapped_column(UTCDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(128))
    """The worker claiming this sender's messages until ``lease_until`` (none: free)."""
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WorkerPresence(Base):
    """A worker process that holds a PostgreSQL session advisory lock ``(NAMESPACE,
    lock_key)`` while it lives (:mod:`careloop.outreach.worker_presence`): the server drops
    the lock the moment the process's connection dies, so the others take over its senders
    and rows without waiting for their leases. Only workers listed here are ever taken over."""

    __tablename__ = "outreach_worker_presence"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    lock_key: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    server_started: Mapped[datetime | None] = mapped_column(UTCDateTime())
    """``pg_postmaster_start_time()`` of the server the lock was taken on."""


class ContactBudgetLock(Base):
    """One row per patient contacted through the outbox: workers lock it (``FOR UPDATE``)
    while they count the patient's contacts and admit a send, so two workers can never both
    spend the last unit of one patient's contact budget."""

    __tablename__ = "outreach_contact_budget"

    patient_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundReply(Base):
    """A reply as received (SMS, key press, portal), with what careloop did about it."""

    __tablename__ = "outreach_inbound"

    id: Mapped[BigSerialId]
    provider_id: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    patient_id: Mapped[str | None] = mapped_column(String(64), index=True)
    enrollment_id: Mapped[int | None] = mapped_column(Integer)
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    keyword: Mapped[str] = mapped_column(String(24))
    body: Mapped[str] = mapped_column(Text)
    handled_as: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    caregiver_id: Mapped[str | None] = mapped_column(String(128))
    """The caregiver who wrote it in the portal as the patient's proxy (0710)."""
