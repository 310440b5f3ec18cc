"""Replies from a caregiver's phone: STOP and START about the caregiver's own number, HELP
answered to the caregiver, anything else read by a person.

A caregiver gets copies of a patient's reminders. What the caregiver answers is the
caregiver's, never the patient's: a STOP stops texts and automated calls to the caregiver's
number (:mod:`careloop.governance.number_opt_outs`), for every patient they care for, and
leaves the patient's consent, queued texts and journeys alone; the care team gets a task to
say so. A number that is a patient's own as well stops in both roles (the conservative
reading: nothing more goes to that number until it says START). Free text, and any answer
to a check-in or a dose reminder's copy, goes to the care team's worklist: the questions
are the patient's, about the patient. YES/R/2 answering a journey's copy keep their meaning
(the copy repeats the patient's reminder, which asks for them).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.channels.keywords import Keyword
from careloop.channels.messages import InboundMessage, a_reply_by
from careloop.clock import FrozenClock
from careloop.conversations.context import InboundContext, keyword_reply
from careloop.conversations.free_text import FreeTextAnswer, ToRead, file_free_text
from careloop.feedback.ruleset import Severity
from careloop.outreach import replies
from careloop.outreach.caregiver_replies import (
    PHONE_CHANNELS,
    CaregiverAt,
    caregivers_at,
    change_caregiver_number,
)
from careloop.outreach.replies import Answered, ReplyOutcome

ACTOR = "system:outreach"
STOPPED_RULE = "outreach-caregiver-stopped"
STOPPED_TITLE = "A caregiver stopped texts; the patient is still texted"
CARE_TEAM_INBOX = "care-team-inbox"
"""What the inbound log keeps for words a person reads."""


def _first_name(carer: CaregiverAt) -> str:
    return (carer.name or "").split(" ")[0]


def change_number(
    session: Session,
    *,
    ctx: InboundContext,
    message: InboundMessage,
    answered: Answered | None,
    stopped: bool,
    own: Sequence[str] = (),
) -> list[CaregiverAt]:
    """STOP (``stopped``) or START for the sender's number in its caregiver roles (those its
    record holds, and the copy ``answered``); nothing when it is no caregiver's. On STOP, a
    task for each patient cared for whose own number it is not (``own``)."""
    copy = (answered.patient_id, answered.caregiver_id or "") if answered else None
    if answered is not None and not answered.caregiver_id:
        copy = None
    carers = caregivers_at(session, message, answered=copy)
    if not carers:
        return []
    now = message.received_at
    change_caregiver_number(
        session, clock=ctx.clock, message=message, caregivers=carers, stopped=stopped, now=now
    )
    if stopped:
        for carer in carers:
            if carer.patient_id in own:
                continue
            create_task(
                session,
                patient_id=carer.patient_id,
                rule_id=STOPPED_RULE,
                title=STOPPED_TITLE,
                summary=(
                    f"{carer.name or 'A caregiver'} replied STOP: careloop no longer texts or "
                    "calls their number. The patient's own messages go on; ask whom to copy."
                ),
                severity=Severity.ROUTINE,
                clock=FrozenClock(now),
                actor=ACTOR,
                team="care-coordination",
            )
    return carers


def caregiver_keyword(
    session: Session, *, ctx: InboundContext, message: InboundMessage, answered: Answered
) -> ReplyOutcome:
    """STOP, START or HELP answering a caregiver's copy: about the caregiver's number only,
    unless the number is also a patient's own (then that patient's consent too)."""
    now = message.received_at
    keyword = message.keyword
    handled = "help"
    if str(message.channel) not in PHONE_CHANNELS:
        # An email copy has no number to stop: a person reads it (never the patient's STOP).
        caregiver_to_care_team(session, ctx=ctx, message=message, answered=answered)
        handled = CARE_TEAM_INBOX
        carers = []
    elif keyword in (Keyword.OPT_OUT, Keyword.OPT_IN):
        stopped = keyword is Keyword.OPT_OUT
        own = replies.senders(session, message)
        for pid in own:
            change = replies.opt_out_patient if stopped else replies.opt_in_patient
            change(session, clock=ctx.clock, patient_id=pid, channel=str(message.channel), now=now)
        carers = change_number(
            session, ctx=ctx, message=message, answered=answered, stopped=stopped, own=own
        )
        handled = "caregiver-opted-out" if stopped else "caregiver-opted-in"
    else:
        carers = caregivers_at(
            session, message, answered=(answered.patient_id, answered.caregiver_id or "")
        )
    queued = False
    content = keyword_reply(ctx, message) if handled != CARE_TEAM_INBOX else None
    carer = next((c for c in carers if c.caregiver_id == answered.caregiver_id), None)
    if content is not None:
        queued = replies.queue_keyword_reply(
            session,
            settings=ctx.settings,
            message=message,
            patient_id=answered.patient_id,
            content=content,
            caregiver=(answered.caregiver_id or "", _first_name(carer) if carer else ""),
        )
    replies.store_answer(session, message, answered=answered, handled_as=handled)
    return ReplyOutcome(
        handled,
        answered.patient_id,
        answered.enrollment_id,
        answered.outbox_id,
        queued_reply=queued,
    )


def caregiver_to_care_team(
    session: Session,
    *,
    ctx: InboundContext,
    message: InboundMessage,
    answered: Answered,
    call_language: str | None = None,
) -> FreeTextAnswer:
    """A caregiver's words (never the patient's answer to a check-in or a dose): a task to
    read them (urgent when they name a red-flag symptom), answered in the caregiver's own
    language (``call_language`` on a call)."""
    return file_free_text(
        session,
        ctx=ctx,
        message=message,
        patient_id=answered.patient_id,
        program=answered.program,
        routine=ToRead(
            "Read the caregiver's reply",
            f"{a_reply_by(message.channel)} from a caregiver (reply #{message.provider_id}).",
        ),
        caregiver_id=answered.caregiver_id,
        call_language=call_language,
    )


def stop_unanswered_number(
    session: Session, *, ctx: InboundContext, message: InboundMessage, own: Sequence[str]
) -> CaregiverAt | None:
    """STOP or START from a number we never texted: honoured for its caregiver roles too.
    The caregiver to confirm to when no patient's own number it is (else ``None``)."""
    if message.keyword not in (Keyword.OPT_OUT, Keyword.OPT_IN):
        return None
    stopped = message.keyword is Keyword.OPT_OUT
    carers = change_number(
        session, ctx=ctx, message=message, answered=None, stopped=stopped, own=own
    )
    if not carers or own:
        return None
    content = keyword_reply(ctx, message)
    if content is not None:
        replies.queue_keyword_reply(
            session,
            settings=ctx.settings,
            message=message,
            patient_id=carers[0].patient_id,
            content=content,
            caregiver=(carers[0].caregiver_id, _first_name(carers[0])),
        )
    return carers[0]


def caregiver_free_text(
    session: Session, *, ctx: InboundContext, message: InboundMessage
) -> tuple[str, FreeTextAnswer] | None:
    """Words from a number on record as a caregiver's, answering nothing we sent (a caregiver
    who was never sent a copy): read for each patient they care for, as a caregiver's reply
    is (urgent on a red flag, answered once in the caregiver's language), never left as an
    unknown sender's. The first patient and the answer; None when the number is nobody's."""
    carers = caregivers_at(session, message)
    answer = FreeTextAnswer()
    for carer in carers:
        filed = file_free_text(
            session,
            ctx=ctx,
            message=message,
            patient_id=carer.patient_id,
            program=None,
            routine=ToRead(
                "Read the caregiver's message",
                f"{a_reply_by(message.channel)} from a caregiver, answering no reminder "
                f"(reply #{message.provider_id}).",
                urgent=message.possible_opt_out,
            ),
            caregiver_id=carer.caregiver_id,
        )
        # The answer's key is the message's: a second patient's filing queues nothing twice.
        answer = FreeTextAnswer(
            queued=answer.queued or filed.queued,
            say=answer.say or filed.say,
            language=answer.language or filed.language,
        )
    return (carers[0].patient_id, answer) if carers else None
