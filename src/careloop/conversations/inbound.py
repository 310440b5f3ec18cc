"""What a reply means for the patient's journeys: opt-out, opt-in, help, confirm, reschedule,
a check-in answer, or free text for a person to read.

Every reply is stored once (a provider retrying its webhook changes nothing twice), tied to
the outbox message it answers and that message's enrollment, and writes ``replied``.
STOP takes effect inside the same transaction: consent is denied for the channel, pending
messages on it are dead-lettered, the patient's journeys end as ``opted-out``, and only the
confirmation the carrier rules require is queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.channels.keywords import Keyword
from careloop.channels.messages import InboundMessage
from careloop.clock import Clock
from careloop.content.service import render_for_sending
from careloop.errors import CareloopError
from careloop.events import EventKind, record_event
from careloop.governance.consent import ConsentSource, opt_in_channel, opt_out_channel
from careloop.models import Enrollment, InboundReply, OutboxMessage
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.audience import patients_with_address
from careloop.outreach.config import OutreachSettings
from careloop.outreach.outbox import NewMessage, enqueue, last_message_of, last_message_to
from careloop.outreach.ports import CareTeam
from careloop.outreach.program import OutreachProgram
from careloop.outreach.states import ACTIVE_ENROLLMENT_STATES, DeadReason, OutboxState
from careloop.records.service import get_patient


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    handled_as: str
    patient_id: str | None
    enrollment_id: int | None
    outbox_id: int | None
    queued_reply: bool = False
    duplicate: bool = False


@dataclass(frozen=True)
class InboundContext:
    clock: Clock
    care_team: CareTeam
    programs: Mapping[str, OutreachProgram]
    settings: OutreachSettings


def handle_reply(
    session: Session, *, ctx: InboundContext, message: InboundMessage, keypad: bool = False
) -> ReplyOutcome:
    """Act on one inbound message (SMS, portal reply or voice key press)."""
    now = message.received_at
    existing = session.scalars(
        select(InboundReply).where(InboundReply.provider_id == message.provider_id)
    ).first()
    if existing is not None:
        return ReplyOutcome(
            existing.handled_as,
            existing.patient_id,
            existing.enrollment_id,
            existing.outbox_id,
            duplicate=True,
        )
    answered = _answered(session, message)
    if answered is None:
        return _unanswered(session, ctx=ctx, message=message)
    patient_id = answered.patient_id
    enrollment = session.get(Enrollment, answered.enrollment_id) if answered.enrollment_id else None
    keyword = message.keyword
    queued = False
    if keyword is Keyword.OPT_OUT:
        handled = "opted-out"
        _opt_out(session, ctx=ctx, patient_id=patient_id, channel=str(message.channel), now=now)
        queued = _queue_reply(
            session, ctx=ctx, message=message, patient_id=patient_id, content="opt_out_confirmation"
        )
    elif keyword is Keyword.OPT_IN:
        handled = "opted-in"
        opt_in_channel(
            session,
            patient_id=patient_id,
            channel=str(message.channel),
            source=str(ConsentSource.SMS_KEYWORD),
            actor=f"patient:{patient_id}",
            now=now,
        )
        _patient_event(
            session, ctx, EventKind.OPTED_IN, patient_id, now, {"channel": str(message.channel)}
        )
        queued = _queue_reply(
            session, ctx=ctx, message=message, patient_id=patient_id, content="opt_in_confirmation"
        )
    elif keyword is Keyword.HELP:
        handled = "help"
        queued = _queue_reply(
            session, ctx=ctx, message=message, patient_id=patient_id, content="help_reply"
        )
    elif keyword is Keyword.CONFIRM:
        handled = "confirmed"
    elif keyword is Keyword.RESCHEDULE:
        handled = "reschedule"
        ctx.care_team.create_task(
            session,
            patient_id=patient_id,
            rule_id="outreach-reschedule",
            title="Patient asked to reschedule",
            summary="Reply R to a reminder: call to rebook.",
            program=answered.program,
            now=now,
        )
    elif keyword is Keyword.TALK_TO_SOMEONE:
        handled = "call-back"
        ctx.care_team.create_task(
            session,
            patient_id=patient_id,
            rule_id="outreach-call-back",
            title="Patient asked to talk to someone",
            summary="Pressed 2 during a reminder call.",
            program=answered.program,
            now=now,
            urgent=True,
        )
    else:
        answer = ctx.care_team.checkin_reply(
            session, patient_id=patient_id, text=message.body, now=now, keypad=keypad
        )
        if answer.handled:
            handled = "checkin"
            if answer.reply_text:
                queued = _queue_text(
                    session,
                    message=message,
                    patient_id=patient_id,
                    body=answer.reply_text,
                    purpose="clinical-monitoring",
                )
        else:
            handled = "care-team-inbox"
            flag = " (may want to opt out)" if message.possible_opt_out else ""
            ctx.care_team.create_task(
                session,
                patient_id=patient_id,
                rule_id="outreach-reply",
                title=f"Read the patient's reply{flag}",
                summary=f"A {message.channel} reply needs a person (reply #{message.provider_id}).",
                program=answered.program,
                now=now,
                urgent=message.possible_opt_out,
            )
    if enrollment is not None:
        lifecycle.mark_responded(
            session,
            clock=ctx.clock,
            enrollment=enrollment,
            now=now,
            outbox_id=answered.id,
            keyword=str(keyword),
            channel=str(message.channel),
        )
        program = ctx.programs.get(enrollment.program)
        if keyword is Keyword.CONFIRM and program is not None and program.completion.on_confirm:
            lifecycle.complete(
                session, clock=ctx.clock, enrollment=enrollment, now=now, how="confirmed"
            )
    else:
        _patient_event(
            session,
            ctx,
            EventKind.REPLIED,
            patient_id,
            now,
            {"outbox_id": answered.id, "keyword": str(keyword), "channel": str(message.channel)},
        )
    _store(session, message, answered, handled)
    return ReplyOutcome(
        handled, patient_id, enrollment.id if enrollment else None, answered.id, queued_reply=queued
    )


def _unanswered(session: Session, *, ctx: InboundContext, message: InboundMessage) -> ReplyOutcome:
    """A message from an address we have sent nothing to: keywords still count (STOP must be
    honoured whoever sends it); anything else goes to a person."""
    now = message.received_at
    patients = patients_with_address(session, channel=str(message.channel), address=message.sender)
    handled = "unknown-sender"
    if patients and message.keyword is Keyword.OPT_OUT:
        for pid in patients:
            _opt_out(session, ctx=ctx, patient_id=pid, channel=str(message.channel), now=now)
        _queue_reply(
            session,
            ctx=ctx,
            message=message,
            patient_id=patients[0],
            content="opt_out_confirmation",
        )
        handled = "opted-out"
    elif patients and message.keyword is Keyword.OPT_IN:
        for pid in patients:
            opt_in_channel(
                session,
                patient_id=pid,
                channel=str(message.channel),
                source=str(ConsentSource.SMS_KEYWORD),
                actor=f"patient:{pid}",
                now=now,
            )
        handled = "opted-in"
    elif patients:
        ctx.care_team.create_task(
            session,
            patient_id=patients[0],
            rule_id="outreach-reply",
            title="Read the patient's message",
            summary="A message that answers no reminder.",
            program=None,
            now=now,
            urgent=message.possible_opt_out,
        )
        handled = "care-team-inbox"
    session.add(
        InboundReply(
            provider_id=message.provider_id,
            channel=str(message.channel),
            patient_id=patients[0] if patients else None,
            keyword=str(message.keyword),
            body=message.body,
            handled_as=handled,
            received_at=now,
        )
    )
    session.flush()
    return ReplyOutcome(handled, patients[0] if patients else None, None, None)


def _answered(session: Session, message: InboundMessage) -> OutboxMessage | None:
    """The outbox message this reply answers: named by the channel, else the last one sent."""
    if message.in_reply_to:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.provider_id == message.in_reply_to)
        ).first()
        if row is not None:
            return row
    found = last_message_to(session, channel=str(message.channel), address=message.sender)
    if found is not None:
        return found
    # A text from the patient's phone answering, say, a portal message: the patient's
    # latest message on any channel is what it answers.
    for patient_id in patients_with_address(
        session, channel=str(message.channel), address=message.sender
    ):
        latest = last_message_of(session, patient_id=patient_id)
        if latest is not None:
            return latest
    return None


def _store(
    session: Session, message: InboundMessage, answered: OutboxMessage | None, handled: str
) -> None:
    session.add(
        InboundReply(
            provider_id=message.provider_id,
            channel=str(message.channel),
            patient_id=answered.patient_id if answered else None,
            enrollment_id=answered.enrollment_id if answered else None,
            outbox_id=answered.id if answered else None,
            keyword=str(message.keyword),
            body=message.body,
            handled_as=handled,
            received_at=message.received_at,
        )
    )
    session.flush()


def _patient_event(
    session: Session,
    ctx: InboundContext,
    kind: EventKind,
    patient_id: str,
    now: datetime,
    payload: dict[str, object],
) -> None:
    record_event(
        session,
        kind=kind,
        clock=ctx.clock,
        actor=f"patient:{patient_id}",
        patient_id=patient_id,
        occurred_at=now,
        payload=payload,
    )


def opt_out_patient(
    session: Session, *, clock: Clock, patient_id: str, channel: str, now: datetime, source: str
) -> int:
    """Deny the channel, dead-letter what is queued on it, end the patient's journeys."""
    opt_out_channel(
        session,
        patient_id=patient_id,
        channel=channel,
        source=source,
        actor=f"patient:{patient_id}",
        now=now,
    )
    session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.patient_id == patient_id,
            OutboxMessage.channel == channel,
            OutboxMessage.state.in_([OutboxState.QUEUED, OutboxState.FAILED_TRANSIENT]),
        )
        .values(state=str(OutboxState.DEAD), dead_reason=str(DeadReason.OPTED_OUT), updated_at=now)
        .execution_options(synchronize_session=False)
    )
    ended = 0
    for enrollment in session.scalars(
        select(Enrollment).where(
            Enrollment.patient_id == patient_id,
            Enrollment.state.in_([str(s) for s in ACTIVE_ENROLLMENT_STATES]),
        )
    ):
        ended += lifecycle.opt_out(
            session, clock=clock, enrollment=enrollment, now=now, channel=channel
        )
    if ended == 0:
        record_event(
            session,
            kind=EventKind.OPTED_OUT,
            clock=clock,
            actor=f"patient:{patient_id}",
            patient_id=patient_id,
            occurred_at=now,
            payload={"channel": channel},
        )
    return ended


def _opt_out(
    session: Session, *, ctx: InboundContext, patient_id: str, channel: str, now: datetime
) -> None:
    opt_out_patient(
        session,
        clock=ctx.clock,
        patient_id=patient_id,
        channel=channel,
        now=now,
        source=str(ConsentSource.SMS_KEYWORD),
    )


def _queue_reply(
    session: Session, *, ctx: InboundContext, message: InboundMessage, patient_id: str, content: str
) -> bool:
    """A keyword answer (STOP/START/HELP confirmation): transactional, sent even after STOP."""
    patient = get_patient(session, patient_id)
    language = patient.language or "en"
    try:
        rendered = render_for_sending(
            session,
            message=content,
            language=language,
            reading_level="standard",
            tone="friendly",
            channel=str(message.channel),
            fields={
                "clinic_phone": ctx.settings.clinic_phone,
                "care_team_name": ctx.settings.care_team_name,
                "first_name": patient.given_name or "",
                "last_name": patient.family_name or "",
            },
            locale=language.replace("-", "_"),
            timezone=patient.timezone,
            detailed_consent=False,
        )
    except CareloopError:
        return False
    return _queue_text(
        session,
        message=message,
        patient_id=patient_id,
        body=rendered.body,
        purpose="care-reminders",
        version_id=rendered.version_id,
        content=content,
    )


def _queue_text(
    session: Session,
    *,
    message: InboundMessage,
    patient_id: str,
    body: str,
    purpose: str,
    version_id: int | None = None,
    content: str | None = None,
) -> bool:
    row = enqueue(
        session,
        message=NewMessage(
            idempotency_key=f"reply:{message.channel}:{message.provider_id}",
            patient_id=patient_id,
            purpose=purpose,
            channel=str(message.channel),
            to_address=message.sender,
            sender=message.recipient,
            body=body,
            due_at=message.received_at,
            content_message=content,
            content_version_id=version_id,
            max_attempts=3,
            extra={"transactional": True},
        ),
        now=message.received_at,
    )
    return row is not None
