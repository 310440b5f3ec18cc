"""A reply that came from outside (a provider's signed webhook), handled and audited.

The reply is a write of patient data by whoever sent it, so it is audited as theirs: the
patient, the caregiver whose copy it answers, or an unknown sender. A provider retrying its
webhook stores nothing twice and is audited once. Other callers of
:func:`~careloop.conversations.inbound.handle_reply` audit at their own edge (the portal's
reply route) or are simulations (the demo's pilot).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.channels.messages import InboundMessage
from careloop.conversations.context import InboundContext
from careloop.conversations.inbound import handle_reply
from careloop.models import OutboxMessage
from careloop.outreach.replies import ReplyOutcome
from careloop.security.principal import Principal
from careloop.security.roles import Role


def receive_reply(
    session: Session, *, ctx: InboundContext, message: InboundMessage, keypad: bool = False
) -> ReplyOutcome:
    """:func:`handle_reply`, then one audit row for the reply it stored (none for a retry)."""
    outcome = handle_reply(session, ctx=ctx, message=message, keypad=keypad)
    if not outcome.duplicate:
        Auditor(session, ctx.clock, _sender(session, outcome, message), Purpose.PATIENT_REQUEST)(
            AuditAction.CREATE,
            "inbound-reply",
            [outcome.patient_id],
            detail={
                "reply": message.provider_id,
                "channel": str(message.channel),
                "handled_as": outcome.handled_as,
            },
        )
    return outcome


def _sender(session: Session, outcome: ReplyOutcome, message: InboundMessage) -> Principal:
    """Who wrote the reply, as far as the message it answers says (never the number)."""
    source = str(message.channel)
    answered = session.get(OutboxMessage, outcome.outbox_id) if outcome.outbox_id else None
    if answered is not None and answered.recipient_kind == "caregiver":
        return Principal(
            actor=f"caregiver:{answered.caregiver_id or 'unknown'}",
            role=Role.CAREGIVER,
            source=source,
        )
    if outcome.handled_as.startswith("caregiver-"):
        return Principal(actor="caregiver:number", role=Role.CAREGIVER, source=source)
    if outcome.patient_id is None:
        return Principal(actor="sender:unknown", role=Role.PATIENT, source=source)
    return Principal(actor=f"patient:{outcome.patient_id}", role=Role.PATIENT, source=source)
