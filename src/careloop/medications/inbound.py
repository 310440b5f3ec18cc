"""A reply to a dose reminder or a teach-back question, as ``conversations.inbound`` hands it
over.

The reply answers an outbox message of the ``medications`` program (the reminder), so "1",
"2", "3" and the words of ``medications.replies`` are a dose answer here, not the journey
keywords they would be elsewhere; one answering a ``prep:<kind>`` message is the teach-back
answer (``prep.answer_prep``). STOP, START and HELP never reach this module.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.channels.messages import InboundMessage, a_reply_by
from careloop.clock import Clock
from careloop.errors import NotFound
from careloop.feedback.ruleset import Severity
from careloop.medications import prep
from careloop.medications.reminders import REMINDER_PROGRAM
from careloop.medications.replies import handle_reply
from careloop.settings import Settings

__all__ = ["REMINDER_PROGRAM", "is_prep_program", "medication_reply", "prep_reply"]

PREP_OUTCOMES = {
    "understood": "prep-understood",
    "retaught": "prep-retaught",
    "task": "prep-nurse-task",
}
"""The inbound log's label for each state a teach-back answer leaves the journey in."""


def is_prep_program(program: str | None) -> bool:
    """Whether an outbox program is an exam preparation's (its replies are teach-back answers)."""
    return (program or "").startswith(prep.PROGRAM_PREFIX)


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


def prep_reply(
    session: Session, message: InboundMessage, *, patient_id: str, clock: Clock, app: Settings
) -> str | None:
    """A reply to a teach-back question judged by the waiting preparation journey; None when no
    question waits (a later "thanks" is for the care team to read). ``app`` is the whole
    configuration, for the re-teach it may send."""
    if prep.open_journey(session, patient_id=patient_id) is None:
        return None
    journey = prep.answer_prep(
        session,
        patient_id=patient_id,
        text=message.body,
        clock=clock,
        settings=app,
    )
    return PREP_OUTCOMES[journey.status]
