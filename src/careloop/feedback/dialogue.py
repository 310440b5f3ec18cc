"""The check-in conversation as stored rows: open one, advance it by one reply.

The questions and the parsing are the pure state machine in :mod:`careloop.feedback.conversation`;
this module keeps its state between messages (``checkin_conversations``) and turns a finished
conversation into a QuestionnaireResponse. What follows from the answers (rules, alerts, a person
to call) is for the caller above: :mod:`careloop.careteam.intake`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import FrozenClock
from careloop.errors import NotFound
from careloop.events import EventKind, record_event
from careloop.feedback import conversation
from careloop.feedback.catalog import Catalog, default_catalog
from careloop.models import CheckinConversation, FhirResource
from careloop.records.service import get_patient


@dataclass(frozen=True)
class DialogueStep:
    """One reply's effect: the message to send back and, once done, the response to store."""

    conversation_id: int | None
    """None when the patient has no check-in in progress (the reply is not an answer)."""
    message: str | None = None
    step: str | None = None
    status: str | None = None
    channel: str = "sms"
    response: dict[str, Any] | None = None
    """The QuestionnaireResponse of what was answered, once the conversation is over."""
    needs_staff: bool = False
    unparsed: int = 0
    answered: int = 0
    asked: int = 0


def _active_conversation(session: Session, patient_id: str) -> CheckinConversation | None:
    return session.scalar(
        select(CheckinConversation)
        .where(
            CheckinConversation.patient_id == patient_id,
            CheckinConversation.status == conversation.ConversationStatus.ASKING,
        )
        .order_by(CheckinConversation.started_at.desc(), CheckinConversation.id.desc())
        .limit(1)
        .with_for_update()
    )


def checkin_in_progress(session: Session, *, patient_id: str) -> bool:
    """Whether the patient is in the middle of a check-in (their next reply answers it)."""
    return _active_conversation(session, patient_id) is not None


def open_checkin(
    session: Session,
    *,
    patient_id: str,
    questionnaire: str,
    now: datetime,
    channel: str = "sms",
    catalog: Catalog | None = None,
) -> tuple[int, str]:
    """Open a conversation for a patient; returns (conversation id, first message).

    A conversation still in progress is closed as abandoned: the newest check-in wins.
    """
    patient = get_patient(session, patient_id)
    q = (catalog or default_catalog()).get(questionnaire)
    previous = _active_conversation(session, patient_id)
    if previous is not None:
        previous.status = "abandoned"
        previous.updated_at = now
    language = (patient.language or "en").split("-")[0].lower()
    state = conversation.start(q, channel=channel, language=language)
    row = CheckinConversation(
        patient_id=patient_id,
        questionnaire_id=str(q["id"]),
        channel=channel,
        status=str(state.status),
        state=state.to_dict(),
        started_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    prompt = conversation.next_prompt(state)
    assert prompt is not None
    return row.id, prompt


def advance_checkin(
    session: Session,
    *,
    patient_id: str,
    text: str,
    now: datetime,
    keypad: bool = False,
    catalog: Catalog | None = None,
) -> DialogueStep:
    """One inbound SMS (or keypad entry) for the patient's check-in in progress."""
    row = _active_conversation(session, patient_id)
    if row is None:
        return DialogueStep(None)
    state = conversation.ConversationState.from_dict(row.state)
    accept = conversation.accept_keypad if keypad else conversation.accept_reply
    state, step = accept(state, text, now)
    row.state, row.status, row.updated_at = state.to_dict(), str(state.status), now
    record_event(
        session,
        kind=EventKind.REPLIED,
        clock=FrozenClock(now),
        actor=f"patient:{patient_id}",
        patient_id=patient_id,
        subject_type="checkin_conversation",
        subject_id=str(row.id),
        payload={
            "channel": row.channel,
            "understood": step is not conversation.Step.REPROMPT,
            "step": str(step),
        },
    )
    message: str | None
    if step is conversation.Step.REPROMPT:
        message = conversation.reprompt_message(state)
    elif step is conversation.Step.NEXT:
        message = conversation.next_prompt(state)
    else:
        message = conversation.closing_message(state)
    response = None
    if step is conversation.Step.DONE and state.answers:
        response = conversation.to_response(
            state,
            questionnaire=(catalog or default_catalog()).get(state.questionnaire),
            response_id=f"qr-{uuid.uuid4().hex}",
            patient_ref=f"Patient/{_patient_fhir_id(session, patient_id)}",
            authored=now,
        )
    return DialogueStep(
        row.id,
        message,
        str(step),
        str(state.status),
        channel=row.channel,
        response=response,
        needs_staff=state.status is conversation.ConversationStatus.NEEDS_STAFF,
        unparsed=len(state.unparsed),
        answered=len(state.answers),
        asked=len(state.questions),
    )


def note_response(session: Session, *, conversation_id: int, response_id: str) -> None:
    """Link the stored QuestionnaireResponse to the conversation that produced it."""
    row = session.get(CheckinConversation, conversation_id)
    if row is not None:
        row.response_id = response_id
        session.flush()


def _patient_fhir_id(session: Session, patient_id: str) -> str:
    """The FHIR id of one of the patient's Patient resources (the subject of new resources)."""
    fhir_id = session.scalar(
        select(FhirResource.fhir_id)
        .where(FhirResource.resource_type == "Patient", FhirResource.patient_id == patient_id)
        .order_by(FhirResource.imported_at)
        .limit(1)
    )
    if fhir_id is None:
        raise NotFound("no such patient")
    return str(fhir_id)
