"""A reply to a dose reminder, as ``conversations.inbound`` hands it over.

The reply answers an outbox message of the ``medications`` program (the reminder), so "1",
"2", "3" and the words of ``medications.replies`` are a dose answer here, not the journey
keywords they would be elsewhere. STOP, START and HELP never reach this module.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.channels.messages import InboundMessage, a_reply_by
from careloop.clock import Clock
from careloop.errors import NotFound
from careloop.feedback.ruleset import Severity
from careloop.medications.reminders import REMINDER_PROGRAM
from careloop.medications.replies import handle_reply

__all__ = ["REMINDER_PROGRAM", "medication_reply"]


def medication_reply(
    session: Session, *, patient_id: str, message: InboundMessage, clock: Clock
) -> str:
    """Record the answer and act on side effects; the label the inbound log keeps."""
    try:
        outcome = handle_reply(
            session,
            patient_id=patient_id,
            text=message.body,
            channel=str(message.channel),
            at=message.received_at,
            clock=clock,
            actor="patient",
        )
    except NotFound:
        return "medication-no-active-dose"
    if outcome.ae_case is not None:
        return "medication-side-effect-ae"
    if outcome.items:
        return "medication-side-effect"
    if outcome.answer is not None:
        return f"medication-{outcome.answer}"
    create_task(
        session,
        patient_id=patient_id,
        rule_id="medication-reply",
        title="Read the patient's reply to a dose reminder",
        summary=(
            f"{a_reply_by(message.channel)} that is not 1, 2 or 3 (reply #{message.provider_id})."
        ),
        severity=Severity.ROUTINE,
        clock=clock,
        actor="patient",
        program=REMINDER_PROGRAM,
    )
    return "care-team-inbox"
