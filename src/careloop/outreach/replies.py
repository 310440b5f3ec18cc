"""Outreach's side of an inbound reply: which message it answers, what it does to journeys
and the outbox, and the row that stores it once.

The reply's route (keyword, check-in answer, a person's inbox) is decided above outreach, in
:mod:`careloop.conversations.inbound`; these functions are the outreach steps it calls.
STOP takes effect inside the caller's transaction: consent is denied for the channel, pending
messages on it are dead-lettered and the patient's journeys end as ``opted-out``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.channels.barriers import barriers_in
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
from careloop.outreach.config import OutreachSettings, care_team_for
from careloop.outreach.outbox import NewMessage, enqueue, last_message_of, last_message_to
from careloop.outreach.program import OutreachProgram
from careloop.outreach.states import ACTIVE_ENROLLMENT_STATES, DeadReason, OutboxState
from careloop.records.caregivers import sender_languages
from careloop.records.service import get_patient

log = logging.getLogger("careloop.outreach")


@dataclass(frozen=True, slots=True)
class ReplyOutcome:
    handled_as: str
    patient_id: str | None
    enrollment_id: int | None
    outbox_id: int | None
    queued_reply: bool = False
    duplicate: bool = False
    answer_now: str | None = None
    """Text to answer in the webhook's own response (HELP from a number we do not know:
    there is no patient to queue a message for, and HELP must be answered to anyone)."""
    answer_language: str | None = None
    """The language of ``answer_now`` when it is the patient's own (spoken check-in advice)."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The outbox message a reply answers: who sent it, which journey and program."""

    outbox_id: int
    patient_id: str
    enrollment_id: int | None
    program: str | None
    caregiver_id: str | None = None
    """Set when the message answered was a caregiver's copy: the reply is the caregiver's."""


def already_received(session: Session, message: InboundMessage) -> ReplyOutcome | None:
    """The outcome of this reply when it was stored before (a provider retrying a webhook)."""
    existing = session.scalars(
        select(InboundReply).where(InboundReply.provider_id == message.provider_id)
    ).first()
    if existing is None:
        return None
    return ReplyOutcome(
        existing.handled_as,
        existing.patient_id,
        existing.enrollment_id,
        existing.outbox_id,
        duplicate=True,
    )


def answered_message(session: Session, message: InboundMessage) -> Answered | None:
    """The outbox message this reply answers: named by the channel, else the last one sent."""
    row = None
    if message.in_reply_to:
        row = session.scalars(
            select(OutboxMessage).where(OutboxMessage.provider_id == message.in_reply_to)
        ).first()
    if row is None:
        row = last_message_to(session, channel=str(message.channel), address=message.sender)
    if row is None:
        # A text from the patient's phone answering, say, a portal message: the patient's
        # latest message on any channel is what it answers.
        for patient_id in senders(session, message):
            row = last_message_of(session, patient_id=patient_id)
            if row is not None:
                break
    if row is None:
        return None
    caregiver = (row.caregiver_id or "") if row.recipient_kind == "caregiver" else None
    return Answered(row.id, row.patient_id, row.enrollment_id, row.program, caregiver)


def latest_message_to(session: Session, *, patient_id: str) -> tuple[int, str] | None:
    """(outbox id, provider id) of the latest message sent to the patient, if any."""
    row = last_message_of(session, patient_id=patient_id)
    return None if row is None else (row.id, row.provider_id or "")


def senders(session: Session, message: InboundMessage) -> list[str]:
    """Patients whose record holds the address the message came from."""
    return patients_with_address(
        session, channel=str(message.channel), address=message.sender, now=message.received_at
    )


def note_reply(
    session: Session,
    *,
    clock: Clock,
    answered: Answered,
    message: InboundMessage,
    program: OutreachProgram | None,
    handled_as: str,
) -> int | None:
    """What the reply does to the journey it answers, and the stored reply; the enrollment id.

    An answered journey counts as responded (a confirmation completes it when its program
    says so); a reply outside any journey is a ``replied`` event of its own. Either way the
    ``replied`` event carries what the reply was handled as and the barriers its words name
    (:func:`reply_evidence`), which a program may read as the reason a patient stayed away.
    """
    now = message.received_at
    evidence = reply_evidence(body=message.body, handled_as=handled_as)
    keyword = message.keyword
    enrollment = session.get(Enrollment, answered.enrollment_id) if answered.enrollment_id else None
    if enrollment is not None:
        lifecycle.mark_responded(
            session,
            clock=clock,
            enrollment=enrollment,
            now=now,
            outbox_id=answered.outbox_id,
            keyword=str(keyword),
            channel=str(message.channel),
            evidence=evidence,
        )
        if keyword is Keyword.CONFIRM and program is not None and program.completion.on_confirm:
            lifecycle.complete(
                session, clock=clock, enrollment=enrollment, now=now, how="confirmed"
            )
    else:
        patient_event(
            session,
            clock=clock,
            kind=EventKind.REPLIED,
            patient_id=answered.patient_id,
            now=now,
            payload={
                "outbox_id": answered.outbox_id,
                "keyword": str(keyword),
                "channel": str(message.channel),
                **evidence,
            },
        )
    store_answer(session, message, answered=answered, handled_as=handled_as)
    return enrollment.id if enrollment is not None else None


def store_answer(
    session: Session, message: InboundMessage, *, answered: Answered, handled_as: str
) -> None:
    """Keep the reply once, tied to the message it answers (its patient, journey, row)."""
    store_reply(
        session,
        message,
        patient_id=answered.patient_id,
        handled_as=handled_as,
        enrollment_id=answered.enrollment_id,
        outbox_id=answered.outbox_id,
    )


def reply_evidence(*, body: str, handled_as: str) -> dict[str, object]:
    """What a ``replied`` event keeps of a reply: how it was handled and the barrier codes its
    words name; never the words (PHI: the body stays in ``inbound_replies``)."""
    return {"handled_as": handled_as, "barriers": [str(b) for b in barriers_in(body)]}


def store_reply(
    session: Session,
    message: InboundMessage,
    *,
    patient_id: str | None,
    handled_as: str,
    enrollment_id: int | None = None,
    outbox_id: int | None = None,
    caregiver_id: str | None = None,
) -> None:
    """Keep the reply once, with what was done with it (and the caregiver who wrote it, when
    a caregiver wrote it in the portal for the patient)."""
    session.add(
        InboundReply(
            provider_id=message.provider_id,
            channel=str(message.channel),
            patient_id=patient_id,
            enrollment_id=enrollment_id,
            outbox_id=outbox_id,
            keyword=str(message.keyword),
            body=message.body,
            handled_as=handled_as,
            received_at=message.received_at,
            caregiver_id=caregiver_id,
        )
    )
    session.flush()


def patient_event(
    session: Session,
    *,
    clock: Clock,
    kind: EventKind,
    patient_id: str,
    now: datetime,
    payload: dict[str, object],
    caregiver_id: str | None = None,
) -> None:
    """An event of the patient's own doing, or of their caregiver's (``caregiver_id``)."""
    record_event(
        session,
        kind=kind,
        clock=clock,
        actor=f"caregiver:{caregiver_id}" if caregiver_id else f"patient:{patient_id}",
        patient_id=patient_id,
        occurred_at=now,
        payload=payload,
    )


def _channel_event(
    session: Session, clock: Clock, kind: EventKind, patient_id: str, channel: str, now: datetime
) -> None:
    """The patient's opt-in or opt-out on one channel, as an event."""
    payload: dict[str, object] = {"channel": channel}
    patient_event(session, clock=clock, kind=kind, patient_id=patient_id, now=now, payload=payload)


def opt_in_patient(
    session: Session, *, clock: Clock, patient_id: str, channel: str, now: datetime
) -> None:
    """A START keyword: consent given again for the channel, and the event that says so."""
    opt_in_channel(
        session,
        patient_id=patient_id,
        channel=channel,
        source=str(ConsentSource.SMS_KEYWORD),
        actor=f"patient:{patient_id}",
        now=now,
    )
    _channel_event(session, clock, EventKind.OPTED_IN, patient_id, channel, now)


def opt_out_patient(
    session: Session,
    *,
    clock: Clock,
    patient_id: str,
    channel: str,
    now: datetime,
    source: str = str(ConsentSource.SMS_KEYWORD),
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
        _channel_event(session, clock, EventKind.OPTED_OUT, patient_id, channel, now)
    return ended


def queue_keyword_reply(
    session: Session,
    *,
    settings: OutreachSettings,
    message: InboundMessage,
    patient_id: str,
    content: str,
    fields: Mapping[str, object] | None = None,
    caregiver: tuple[str, str] | None = None,
) -> bool:
    """A keyword answer (STOP/START/HELP confirmation, a booking's confirmation): approved
    content on the reply's own channel, transactional, sent even after STOP.

    ``caregiver`` (id, own first name): the answer goes to a caregiver, greeted by their own
    name, never the patient's, in the caregiver's language (then the patient's, then the
    clinic's)."""
    patient = get_patient(session, patient_id)
    languages = sender_languages(
        session,
        patient_language=patient.language,
        caregiver_id=caregiver[0] if caregiver else None,
    )
    language = next(iter(languages), settings.clinic_language)
    names = {"first_name": patient.given_name or "", "last_name": patient.family_name or ""}
    if caregiver is not None:
        names = {"first_name": caregiver[1], "last_name": ""}
    try:
        rendered = render_for_sending(
            session,
            message=content,
            language=language,
            reading_level="standard",
            tone="friendly",
            channel=str(message.channel),
            fields={
                "clinic_phone": settings.clinic_phone,
                "care_team_name": care_team_for(settings, language),
                **names,
                **(fields or {}),
            },
            locale=language.replace("-", "_"),
            timezone=patient.timezone,
            detailed_consent=False,
        )
    except CareloopError as exc:
        # Not silently: a STOP is recorded either way, but the confirmation carriers expect
        # is missing until the content is there (``careloop content sync``). No PHI here.
        log.warning(
            "keyword answer %s not sent on %s: %s",
            content,
            message.channel,
            exc.__class__.__name__,
            extra={"field": getattr(exc, "field", None)},
        )
        return False
    return queue_reply_text(
        session,
        message=message,
        patient_id=patient_id,
        body=rendered.body,
        purpose="care-reminders",
        version_id=rendered.version_id,
        content=content,
        language=rendered.used.language,
        caregiver_id=(caregiver[0] or None) if caregiver else None,
    )


def help_for_anyone(
    session: Session, *, settings: OutreachSettings, channel: str, language: str = "en"
) -> str | None:
    """The approved HELP answer with no patient's details in it (for an unknown sender)."""
    try:
        rendered = render_for_sending(
            session,
            message="help_reply",
            language=language,
            reading_level="standard",
            tone="formal",  # the formal frame greets nobody by name: there is no patient
            channel=channel,
            fields={
                "clinic_phone": settings.clinic_phone,
                "care_team_name": care_team_for(settings, language),
            },
            locale=language.replace("-", "_"),
            timezone="UTC",
            detailed_consent=False,
        )
    except CareloopError as exc:
        log.warning(
            "help answer not sent on %s: %s",
            channel,
            exc.__class__.__name__,
            extra={"field": getattr(exc, "field", None)},
        )
        return None
    return rendered.body


def queue_reply_text(
    session: Session,
    *,
    message: InboundMessage,
    patient_id: str,
    body: str,
    purpose: str,
    version_id: int | None = None,
    content: str | None = None,
    language: str | None = None,
    caregiver_id: str | None = None,
) -> bool:
    """Answer a reply on its own channel, to its sender, once (keyed by the reply's id).

    ``language`` is the body's (the rendered variant's; else the patient's): the channel
    speaks it (voice) or declares it (email), so it must not default to English.
    """
    if language is None:
        language = get_patient(session, patient_id).language or "en"
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
            language=language,
            max_attempts=3,
            recipient_kind="patient" if caregiver_id is None else "caregiver",
            caregiver_id=caregiver_id,
            extra={"transactional": True},
        ),
        now=message.received_at,
    )
    return row is not None
