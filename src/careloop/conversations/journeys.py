"""A scheduler tick and what it hands off: call tasks to the care team, check-ins to feedback,
early reschedule offers for high-risk bookings to access.

Outreach's :func:`~careloop.outreach.scheduler.tick` queues the journeys' messages and lists
what needs another domain (a call when messages go unanswered, a check-in conversation to
open); this workflow, above both, does those in the same transaction, so a task or a first
question exists exactly when the tick that called for it committed.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.access.moves import offer_new_time
from careloop.careteam.alerts import create_task
from careloop.clock import FrozenClock
from careloop.errors import NotFound
from careloop.feedback.dialogue import open_checkin
from careloop.feedback.ruleset import Severity
from careloop.outreach.handoffs import queue_first_question
from careloop.outreach.scheduler import TickContext, TickReport, tick
from careloop.records.interpreter import call_languages

log = logging.getLogger("careloop.outreach")
ACTOR = "system:outreach"


def run_tick(session: Session, *, ctx: TickContext, now: datetime) -> TickReport:
    """One scheduler pass and its hand-offs, inside the caller's transaction."""
    report = tick(session, ctx=ctx, now=now)
    # Whoever calls must know the language to call in, and whether to book an interpreter.
    languages = call_languages(
        session,
        patient_ids=sorted({c.patient_id for c in report.call_tasks}),
        clinic_language=ctx.settings.clinic_language,
    )
    for call in report.call_tasks:
        spoken = languages[call.patient_id]
        create_task(
            session,
            patient_id=call.patient_id,
            rule_id=call.rule_id,
            title=call.title,
            summary=f"{call.summary} {spoken.in_words()}",
            severity=Severity.ROUTINE,
            clock=FrozenClock(now),
            actor=ACTOR,
            program=call.program,
            team="care-coordination",
            values=spoken.values(),
        )
    for invite in report.checkins:
        try:
            _, question = open_checkin(
                session,
                patient_id=invite.patient_id,
                questionnaire=invite.questionnaire,
                now=invite.invitation.due_at,
                channel=invite.channel,
            )
        except NotFound:
            log.warning("no questionnaire %s for a check-in step", invite.questionnaire)
            continue
        queue_first_question(session, invite=invite, question=question, now=now)
    for move in report.reschedule_offers:
        if ctx.app_settings is None:
            log.warning("no process settings: the early reschedule offer is not sent")
            continue
        sent = offer_new_time(
            session,
            patient_id=move.patient_id,
            appointment_id=move.appointment_id,
            message=move.message,
            clock=FrozenClock(now),
            settings=ctx.app_settings,
        )
        if sent.outbox_id is None:
            log.info("early reschedule offer not queued: %s", sent.not_queued)
    return report
