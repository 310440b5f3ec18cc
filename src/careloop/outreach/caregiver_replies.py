"""Outreach's side of a caregiver's STOP or START: the number's opt-out recorded and audited,
what is queued to the number dead-lettered, the confirmation addressed to the caregiver.

A caregiver's keyword is about the caregiver's own phone (:mod:`careloop.governance.
number_opt_outs`): the patient's consent, queued texts and journeys are left alone. The care
team's task is opened above outreach (:mod:`careloop.conversations.inbound`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.channels.messages import InboundMessage
from careloop.clock import Clock
from careloop.db import any_of
from careloop.governance.number_opt_outs import canonical_number, record_number_opt_out
from careloop.models import Caregiver, OutboxMessage
from careloop.outreach.states import DeadReason, OutboxState
from careloop.records.contacts import find_caregivers_by_contact
from careloop.security.principal import Principal
from careloop.security.roles import Role

PHONE_CHANNELS = ("sms", "voice")
"""The channels a caregiver's STOP stops: texts and automated calls to the number."""


@dataclass(frozen=True, slots=True)
class CaregiverAt:
    """A caregiver record holding the number a message came from."""

    patient_id: str
    caregiver_id: str
    name: str | None


def caregivers_at(
    session: Session, message: InboundMessage, *, answered: tuple[str, str] | None = None
) -> list[CaregiverAt]:
    """Caregivers whose record holds the sender's phone number, and the caregiver of the copy
    the message answers (``answered``: patient and caregiver id), even if since dropped."""
    found: set[tuple[str, str]] = set()
    if str(message.channel) in PHONE_CHANNELS:
        found.update(find_caregivers_by_contact(session, system="phone", value=message.sender))
    if answered is not None:
        found.add(answered)
    if not found:
        return []
    names: dict[str, str | None] = dict(
        session.execute(  # type: ignore[arg-type]
            select(Caregiver.id, Caregiver.name).where(
                any_of(session, Caregiver.id, sorted(c for _, c in found))
            )
        ).all()
    )
    return [CaregiverAt(p, c, names.get(c)) for p, c in sorted(found)]


def change_caregiver_number(
    session: Session,
    *,
    clock: Clock,
    message: InboundMessage,
    caregivers: Sequence[CaregiverAt],
    stopped: bool,
    now: datetime,
) -> int:
    """Record the caregiver's STOP (``stopped``) or START for their number, audited once per
    patient they care for; on STOP, what is queued to the number dead-lettered (its count).
    The patient's own messages to other numbers are untouched."""
    row = record_number_opt_out(
        session,
        address=message.sender,
        stopped=stopped,
        sender=message.recipient,
        actor=f"caregiver:{caregivers[0].caregiver_id}" if caregivers else "number",
        now=now,
    )
    caller = Principal(
        actor=row.recorded_by,
        role=Role.CAREGIVER,
        patient_ids=frozenset(c.patient_id for c in caregivers),
        source=str(message.channel),
    )
    Auditor(session, clock, caller, Purpose.PATIENT_REQUEST)(
        AuditAction.UPDATE,
        f"NumberOptOut/{row.id}",
        sorted({c.patient_id for c in caregivers}) or [None],
        detail={
            "status": row.status,
            "caregiver_ids": sorted({c.caregiver_id for c in caregivers}),
            "channel": str(message.channel),
        },
    )
    if not stopped:
        return 0
    return dead_letter_to_number(session, address=row.address, now=now)


def dead_letter_to_number(session: Session, *, address: str, now: datetime) -> int:
    """Dead-letter the texts and calls still queued to ``address`` (a STOP/HELP answer, which
    is transactional, still goes)."""
    waiting = session.execute(
        select(OutboxMessage.id, OutboxMessage.extra).where(
            OutboxMessage.to_address.in_({address, canonical_number(address)}),
            OutboxMessage.channel.in_(PHONE_CHANNELS),
            OutboxMessage.state.in_([OutboxState.QUEUED, OutboxState.FAILED_TRANSIENT]),
        )
    ).all()
    ids = [i for i, extra in waiting if not (extra or {}).get("transactional")]
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(
                state=str(OutboxState.DEAD),
                dead_reason=str(DeadReason.NUMBER_OPTED_OUT),
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return len(ids)
