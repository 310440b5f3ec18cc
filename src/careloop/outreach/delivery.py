"""Delivery receipts: status callbacks, email bounces and portal read receipts.

A receipt finds its message by the outbox's own id (carried in the callback URL) or by the
provider id, and never moves a message backward: ``delivered`` after ``delivered`` or a late
``sent`` changes nothing. A failed delivery is retried (transient) or dead-lettered
(permanent), like a failed send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from careloop.channels.bounces import parse_bounce
from careloop.channels.messages import DeliveryReport, DeliveryStatus
from careloop.clock import Clock
from careloop.events import EventKind, record_event
from careloop.models import OutboxMessage
from careloop.outreach.outbox import find_by_provider_id, mark_delivered, mark_failed
from careloop.outreach.states import DeadReason, OutboxState

ACTOR = "outreach-receipts"
_DELIVERED = {DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.COMPLETED}


@dataclass(frozen=True, slots=True)
class ReceiptOutcome:
    found: bool
    state: str | None = None
    changed: bool = False


def apply_report(
    session: Session,
    *,
    clock: Clock,
    report: DeliveryReport,
    outbox_id: int | None = None,
    retry_in: timedelta = timedelta(minutes=10),
) -> ReceiptOutcome:
    message: OutboxMessage | None = None
    if outbox_id is not None:
        message = session.get(OutboxMessage, outbox_id)
        if message is not None and message.provider_id not in (None, report.provider_id):
            message = None  # the code in the URL and the provider's id must agree
    if message is None:
        message = find_by_provider_id(session, provider_id=report.provider_id)
    if message is None:
        return ReceiptOutcome(found=False)
    now = report.reported_at
    changed = False
    if report.status in _DELIVERED:
        changed = mark_delivered(message, now=now)
        kind = EventKind.DELIVERED
    elif report.status.is_final_failure and report.failure is not None:
        if message.state in (OutboxState.SENT, OutboxState.SENDING):
            failure = report.failure
            state = mark_failed(
                message,
                reason=str(failure.reason),
                permanent=failure.permanent,
                now=now,
                retry_in=retry_in,
            )
            if state is OutboxState.DEAD and not failure.permanent:
                message.dead_reason = str(DeadReason.MAX_ATTEMPTS)
            elif state is OutboxState.DEAD:
                message.dead_reason = str(DeadReason.DELIVERY_FAILED)
            changed = True
        kind = EventKind.FAILED
    else:
        return ReceiptOutcome(found=True, state=message.state)
    if changed:
        record_event(
            session,
            kind=kind,
            clock=clock,
            actor=ACTOR,
            patient_id=message.patient_id,
            occurred_at=now,
            subject_type="outbox_message",
            subject_id=str(message.id),
            program=message.program,
            payload={
                "channel": message.channel,
                "status": str(report.status),
                "reason": str(report.reason) if report.reason else None,
                "enrollment_id": message.enrollment_id,
            },
        )
    session.flush()
    return ReceiptOutcome(found=True, state=message.state, changed=changed)


def record_bounce(session: Session, *, clock: Clock, raw: bytes) -> list[ReceiptOutcome]:
    """A DSN (bounce) mail: each failed recipient is a failed delivery of our message."""
    return [
        apply_report(session, clock=clock, report=report)
        for report in parse_bounce(raw, reported_at=clock.now())
    ]
