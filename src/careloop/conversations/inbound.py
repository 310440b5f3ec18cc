"""Where a patient's reply goes: opt-out, opt-in, help, confirm, reschedule, a check-in answer,
or free text for a person to read.

This router sits above outreach, feedback and the care team and calls each of them down:
outreach for what a reply does to journeys and the outbox (:mod:`careloop.outreach.replies`),
the care team for check-in answers (:func:`careloop.careteam.intake.handle_checkin_reply`, which
advances feedback's conversation) and for tasks on the worklist. Every reply is stored once (a
provider retrying its webhook changes nothing twice), tied to the outbox message it answers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.access.replies import AccessReply, handle_access_reply
from careloop.careteam.intake import handle_checkin_reply
from careloop.careteam.safety import advice_text
from careloop.channels.keywords import Keyword
from careloop.channels.messages import ChannelKind, InboundMessage, a_reply_by
from careloop.conversations.caregiver_replies import (
    CARE_TEAM_INBOX,
    caregiver_free_text,
    caregiver_keyword,
    caregiver_to_care_team,
    change_number,
    stop_unanswered_number,
)
from careloop.conversations.context import InboundContext as InboundContext
from careloop.conversations.context import keyword_reply
from careloop.conversations.free_text import (
    FreeTextAnswer,
    ToRead,
    file_free_text,
    person_task,
    unknown_sender_words,
)
from careloop.feedback.dialogue import checkin_in_progress
from careloop.medications.inbound import (
    REMINDER_PROGRAM,
    is_prep_program,
    medication_reply,
    prep_reply,
)
from careloop.models import OutboxMessage
from careloop.outreach import replies
from careloop.outreach.replies import ReplyOutcome
from careloop.records.interpreter import call_language
from careloop.records.service import get_patient

ACTOR = "system:outreach"
# Opt-out, opt-in and HELP always mean what they say, whatever is in flight.
_NEVER_ACCESS = frozenset({Keyword.OPT_OUT, Keyword.OPT_IN, Keyword.HELP})
_MENU_KEYS = (Keyword.CONFIRM, Keyword.TALK_TO_SOMEONE)
"""The reminder call's menu keys (1, 2), which are grades while a keypad check-in runs."""
UNOFFERED_KEY = "unoffered-key"
"""A key the call did not offer (7, *, #) and no check-in to answer: nothing for a person to
read, so no task; the call asks again (``web.api.webhooks``)."""


@dataclass(frozen=True)
class _PersonTask:
    """A keyword that asks for a person: what the reply was, and the worklist task it opens."""

    handled: str
    rule_id: str
    title: str
    summary: str
    urgent: bool = False


_TASK_KEYWORDS = {
    Keyword.RESCHEDULE: _PersonTask(
        "reschedule",
        "outreach-reschedule",
        "Patient asked to reschedule",
        "Reply R to a reminder: call to rebook.",
    ),
    Keyword.TALK_TO_SOMEONE: _PersonTask(
        "call-back",
        "outreach-call-back",
        "Patient asked to talk to someone",
        "Pressed 2 during a reminder call.",
        urgent=True,
    ),
}


def _task(
    session: Session,
    *,
    ctx: InboundContext,
    patient_id: str,
    task: _PersonTask,
    program: str | None,
    now: datetime,
) -> None:
    """A keyword that needs a person to call the patient: a task on the care coordinators'
    worklist that says which language the call needs (and when an interpreter does)."""
    spoken = call_language(
        session, patient_id=patient_id, clinic_language=ctx.settings.clinic_language
    )
    person_task(
        session,
        patient_id=patient_id,
        rule_id=task.rule_id,
        title=task.title,
        summary=f"{task.summary} {spoken.in_words()}",
        urgent=task.urgent,
        program=program,
        now=now,
        values=spoken.values(),
    )


_ALWAYS_KEYWORDS = (Keyword.OPT_OUT, Keyword.OPT_IN, Keyword.HELP)
"""Honoured whatever the message answered: STOP, START and HELP are never a dose answer."""


def _answer_keyword(
    session: Session, *, ctx: InboundContext, message: InboundMessage, patient_id: str
) -> bool | None:
    """Queue the answer to a keyword for the patient: whether it was queued, or ``None`` when
    the keyword has no answer of ours."""
    content = keyword_reply(ctx, message)
    if content is None:
        return None
    return replies.queue_keyword_reply(
        session, settings=ctx.settings, message=message, patient_id=patient_id, content=content
    )


def handle_reply(
    session: Session, *, ctx: InboundContext, message: InboundMessage, keypad: bool = False
) -> ReplyOutcome:
    """Act on one inbound message (SMS, portal reply or voice key press)."""
    seen = replies.already_received(session, message)
    if seen is not None:
        return seen
    answered = replies.answered_message(session, message)
    if answered is None:
        return _unanswered(session, ctx=ctx, message=message, keypad=keypad)
    now = message.received_at
    patient_id = answered.patient_id
    if (
        keypad
        and message.keyword in _MENU_KEYS
        and checkin_in_progress(session, patient_id=patient_id)
    ):
        # During a keypad check-in, 1 and 2 are grades answering the question, not the menu.
        message = replace(message, keyword=Keyword.CHECKIN_ANSWER)
    keyword = message.keyword
    from_caregiver = answered.caregiver_id is not None
    call_language = _call_language(session, message=message, answered=answered)
    stray_key = keypad and keyword is Keyword.FREE_TEXT
    if from_caregiver and keyword in _ALWAYS_KEYWORDS:
        return caregiver_keyword(session, ctx=ctx, message=message, answered=answered)
    spoken: tuple[str, str | None] | None = None
    queued = False
    free = FreeTextAnswer()
    if keyword not in _NEVER_ACCESS:
        access = handle_access_reply(
            session,
            patient_id=patient_id,
            message=message,
            clock=ctx.clock,
            settings=ctx.settings,
            app_settings=ctx.app_settings,
            answered_outbox_id=answered.outbox_id,
        )
        if access is not None:
            return _noted(session, ctx=ctx, answered=answered, message=message, access=access)
    prep = None
    teach_back = is_prep_program(answered.program) and keyword not in _ALWAYS_KEYWORDS
    if teach_back and not from_caregiver and ctx.app_settings is not None:
        prep = prep_reply(
            session, message, patient_id=patient_id, clock=ctx.clock, app=ctx.app_settings
        )
    if prep is not None:
        # A teach-back answer: "2" is the patient's key, not a journey's "talk to someone".
        handled = prep
    elif from_caregiver and stray_key:
        handled = UNOFFERED_KEY
    elif from_caregiver and answered.program == REMINDER_PROGRAM:
        # A dose reminder's copy asks nothing: its answer is the patient's alone to give.
        handled = CARE_TEAM_INBOX
        free = caregiver_to_care_team(
            session, ctx=ctx, message=message, answered=answered, call_language=call_language
        )
    elif answered.program == REMINDER_PROGRAM and keyword not in _ALWAYS_KEYWORDS:
        handled = medication_reply(session, patient_id=patient_id, message=message, clock=ctx.clock)
    elif keyword is Keyword.OPT_OUT:
        handled = "opted-out"
        replies.opt_out_patient(
            session, clock=ctx.clock, patient_id=patient_id, channel=str(message.channel), now=now
        )
        # The patient's own number is a caregiver's too: texts to it stop in both roles.
        change_number(
            session, ctx=ctx, message=message, answered=None, stopped=True, own=[patient_id]
        )
    elif keyword is Keyword.OPT_IN:
        handled = "opted-in"
        replies.opt_in_patient(
            session, clock=ctx.clock, patient_id=patient_id, channel=str(message.channel), now=now
        )
        change_number(
            session, ctx=ctx, message=message, answered=None, stopped=False, own=[patient_id]
        )
    elif keyword is Keyword.HELP:
        handled = "help"
    elif keyword is Keyword.CONFIRM:
        handled = "confirmed"
    elif keyword in _TASK_KEYWORDS:
        task = _TASK_KEYWORDS[keyword]
        handled = task.handled
        _task(session, ctx=ctx, patient_id=patient_id, task=task, program=answered.program, now=now)
    elif from_caregiver:
        # Never a check-in answer: the questions are the patient's, about the patient.
        handled = CARE_TEAM_INBOX
        free = caregiver_to_care_team(
            session, ctx=ctx, message=message, answered=answered, call_language=call_language
        )
    else:
        answer = handle_checkin_reply(
            session, patient_id=patient_id, text=message.body, now=now, keypad=keypad
        )
        if answer.conversation_id is not None:
            handled = "checkin"
            # Answers that call for action now are answered with what to do, not "thanks".
            urgent = advice_text(
                session,
                patient_id=patient_id,
                advice=answer.result.advice if answer.result else [],
                phone=ctx.settings.clinic_phone,
                channel="voice" if keypad else "sms",
            )
            body = urgent or answer.message
            if keypad and urgent:
                # Said at once on the call, in the patient's language, before hanging up.
                spoken = (urgent, get_patient(session, patient_id).language)
            if body:
                queued = replies.queue_reply_text(
                    session,
                    message=message,
                    patient_id=patient_id,
                    body=body,
                    purpose="clinical-monitoring",
                )
        elif stray_key:
            handled = UNOFFERED_KEY
        else:
            handled = CARE_TEAM_INBOX
            flag = " (may want to opt out)" if message.possible_opt_out else ""
            free = file_free_text(
                session,
                ctx=ctx,
                message=message,
                patient_id=patient_id,
                program=answered.program,
                routine=ToRead(
                    f"Read the patient's reply{flag}",
                    f"{a_reply_by(message.channel)} needs a person (reply #{message.provider_id}).",
                    urgent=message.possible_opt_out,
                ),
                call_language=call_language,
            )
    if handled == UNOFFERED_KEY:
        # Kept once (a retried webhook is the same press), but no reply to the journey.
        replies.store_answer(session, message, answered=answered, handled_as=handled)
        return ReplyOutcome(handled, patient_id, answered.enrollment_id, answered.outbox_id)
    queued = queued or free.queued
    if free.say is not None:
        # Red-flag words spoken on the call: what to do now, said before anything else.
        spoken = (free.say, free.language)
    keyword_answer = _answer_keyword(session, ctx=ctx, message=message, patient_id=patient_id)
    if keyword_answer is not None:
        queued = keyword_answer
    enrollment_id = _note(session, ctx=ctx, answered=answered, message=message, handled=handled)
    return ReplyOutcome(
        handled,
        patient_id,
        enrollment_id,
        answered.outbox_id,
        queued_reply=queued,
        answer_now=spoken[0] if spoken else None,
        answer_language=spoken[1] if spoken else None,
    )


def _call_language(
    session: Session, *, message: InboundMessage, answered: replies.Answered
) -> str | None:
    """The language of the call a spoken word or key answers (None: not a call)."""
    if message.channel is not ChannelKind.VOICE:
        return None
    row = session.get(OutboxMessage, answered.outbox_id)
    return row.language if row is not None else None


def _note(
    session: Session,
    *,
    ctx: InboundContext,
    answered: replies.Answered,
    message: InboundMessage,
    handled: str,
) -> int | None:
    """Note the reply against what it answered (and its program); the enrollment it moved."""
    program = ctx.programs.get(answered.program) if answered.program else None
    return replies.note_reply(
        session,
        clock=ctx.clock,
        answered=answered,
        message=message,
        program=program,
        handled_as=handled,
    )


def _noted(
    session: Session,
    *,
    ctx: InboundContext,
    answered: replies.Answered,
    message: InboundMessage,
    access: AccessReply,
) -> ReplyOutcome:
    """A reply access acted on (a slot chosen, a visit cancelled or moved), noted once."""
    handled = access.handled_as
    enrollment_id = _note(session, ctx=ctx, answered=answered, message=message, handled=handled)
    return ReplyOutcome(
        access.handled_as,
        answered.patient_id,
        enrollment_id,
        answered.outbox_id,
        queued_reply=access.queued_reply,
    )


def _unanswered(
    session: Session, *, ctx: InboundContext, message: InboundMessage, keypad: bool = False
) -> ReplyOutcome:
    """A message from an address we have sent nothing to: keywords still count (STOP must be
    honoured whoever sends it); anything else goes to a person."""
    now = message.received_at
    patients = replies.senders(session, message)
    handled = "unknown-sender"
    answer: str | None = None
    language: str | None = None
    queued = False
    carer = stop_unanswered_number(session, ctx=ctx, message=message, own=patients)
    if carer is not None:
        handled = f"caregiver-{'opted-out' if message.keyword is Keyword.OPT_OUT else 'opted-in'}"
        replies.store_reply(session, message, patient_id=carer.patient_id, handled_as=handled)
        return ReplyOutcome(handled, carer.patient_id, None, None)
    if patients and message.keyword is Keyword.OPT_OUT:
        for pid in patients:
            replies.opt_out_patient(
                session, clock=ctx.clock, patient_id=pid, channel=str(message.channel), now=now
            )
        _answer_keyword(session, ctx=ctx, message=message, patient_id=patients[0])
        handled = "opted-out"
    elif patients and message.keyword is Keyword.OPT_IN:
        for pid in patients:
            replies.opt_in_patient(
                session, clock=ctx.clock, patient_id=pid, channel=str(message.channel), now=now
            )
        # START is confirmed as STOP is, whether or not we ever texted this number before.
        _answer_keyword(session, ctx=ctx, message=message, patient_id=patients[0])
        handled = "opted-in"
    elif message.keyword is Keyword.HELP:
        handled = "help"
        if patients:
            _answer_keyword(session, ctx=ctx, message=message, patient_id=patients[0])
        elif keyword_reply(ctx, message) is not None:
            answer = replies.help_for_anyone(
                session, settings=ctx.settings, channel=str(message.channel)
            )
    elif keypad and message.keyword is Keyword.FREE_TEXT:
        handled = UNOFFERED_KEY  # a stray key is nothing to read, whoever pressed it
    elif patients:
        handled = CARE_TEAM_INBOX
        free = file_free_text(
            session,
            ctx=ctx,
            message=message,
            patient_id=patients[0],
            program=None,
            routine=ToRead(
                "Read the patient's message",
                "A message that answers no reminder.",
                urgent=message.possible_opt_out,
            ),
        )
        queued = free.queued
        answer = free.say
        language = free.language
    elif message.keyword not in (Keyword.OPT_OUT, Keyword.OPT_IN) and (
        carer_words := caregiver_free_text(session, ctx=ctx, message=message)
    ):
        handled = CARE_TEAM_INBOX
        carer_patient, free = carer_words
        patients = [carer_patient]
        queued, answer, language = free.queued, free.say, free.language
    elif message.keyword not in (Keyword.OPT_OUT, Keyword.OPT_IN):
        # Nobody matches the number: a person reads it and links it to a patient.
        answer = unknown_sender_words(session, ctx=ctx, message=message)
        language = ctx.settings.clinic_language if answer else None
    replies.store_reply(
        session, message, patient_id=patients[0] if patients else None, handled_as=handled
    )
    patient_id = patients[0] if patients else None
    return ReplyOutcome(
        handled,
        patient_id,
        None,
        None,
        queued_reply=queued,
        answer_now=answer,
        answer_language=language,
    )
