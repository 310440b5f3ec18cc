"""What a scheduler tick leaves for the workflow above it to do, as typed values.

Outreach never reaches up: when a journey calls for a person (N messages unanswered) or opens
a check-in conversation, the tick records a hand-off in its report, and the workflow that ran
the tick (:func:`careloop.conversations.journeys.run_tick`) acts on it in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from careloop.outreach.outbox import NewMessage, enqueue


@dataclass(frozen=True, slots=True, kw_only=True)
class CallTask:
    """A journey's digital messages went unanswered: a person should call the patient."""

    patient_id: str
    program: str
    rule_id: str
    title: str
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckinInvite:
    """A check-in step's invitation was queued: its conversation opens with the first question."""

    patient_id: str
    questionnaire: str
    channel: str
    invitation: NewMessage


@dataclass(frozen=True, slots=True, kw_only=True)
class RescheduleOffer:
    """A booking at high no-show risk: offer the patient other times early, through access's
    offer and booking path (their reply books the new time and frees the old one)."""

    patient_id: str
    program: str
    appointment_id: str
    message: str
    """The library message that carries the choices (the step's ``message``)."""


FIRST_QUESTION_SUFFIX = ":q1"
"""Ends the outbox key of a check-in's first question: its invitation's key plus this."""


def queue_first_question(
    session: Session, *, invite: CheckinInvite, question: str, now: datetime
) -> None:
    """The conversation's first question, one second after its invitation, on its channel."""
    intro = invite.invitation
    enqueue(
        session,
        message=replace(
            intro,
            idempotency_key=intro.idempotency_key + FIRST_QUESTION_SUFFIX,
            body=question,
            subject=None,
            html=None,
            due_at=intro.due_at + timedelta(seconds=1),
            content_message=None,
            content_version_id=None,
            # The invitation and its first question are one contact (one step, one budget).
            extra={**intro.extra, "continues": intro.idempotency_key},
        ),
        now=now,
    )
