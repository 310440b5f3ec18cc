"""Calls a patient makes to our number: verify the caller, then their latest message.

A caller ID proves nothing (it can be spoofed, a phone is shared), so nothing about care is
said until the caller keys in the date of birth of the one patient who holds that number.
Then they hear the latest message we sent and the usual menu (1 confirm, 2 talk to someone),
whose key press is handled like any reply to that message. A number we do not know, one
shared by several patients, a wrong date of birth or a 0 connects the call to the care team
(``channels.voice.care_team_number``) or, without that number, says which number to call.
Every message read out is audited as a read by the verified patient.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.channels.voice_twilio import ask_again, menu_gather, say_kwargs
from careloop.clock import Clock
from careloop.content.conversation_words import conversation_words
from careloop.models import Patient
from careloop.outreach.outbox import last_message_of
from careloop.records.contacts import find_patients_by_contact
from careloop.security.principal import Principal
from careloop.security.roles import Role

TRANSFER = "0"


@dataclass(frozen=True, slots=True)
class CallDesk:
    """What the inbound-call TwiML needs besides the session: where to send people."""

    base_url: str
    care_team: Callable[[str], str]  # the team's name in a language (``care_team_for``)
    clinic_phone: str
    care_team_number: str | None
    voices: Mapping[str, str]
    speech: bool = True
    """The menu listens for words as well as keys (``channels.voice.speech``)."""


def _caller(session: Session, caller: str) -> Patient | None:
    """The one patient whose own phone is ``caller``; None when unknown or shared."""
    ids = find_patients_by_contact(session, system="phone", value=caller)
    if len(ids) != 1:
        return None
    return session.get(Patient, ids[0])


def _say(response: Any, text: str, language: str, desk: CallDesk) -> None:
    response.say(text, **say_kwargs(language, desk.voices))


def _to_care_team(response: VoiceResponse, language: str, desk: CallDesk) -> str:
    words = conversation_words(language)
    if desk.care_team_number:
        _say(response, words["call_transfer"], language, desk)
        response.dial(desk.care_team_number)
    else:
        _say(response, words["call_back"].format(clinic_phone=desk.clinic_phone), language, desk)
        response.hangup()
    return str(response)


def answer_inbound_call(session: Session, *, caller: str, desk: CallDesk) -> str:
    """The greeting: ask a known caller for the date of birth, send others to the team."""
    patient = _caller(session, caller)
    response = VoiceResponse()
    if patient is None or patient.birth_date is None:
        return _to_care_team(response, "en", desk)
    language = patient.language or "en"
    words = conversation_words(language)
    gather = response.gather(
        num_digits=8,
        action=f"{desk.base_url.rstrip('/')}/webhooks/twilio/voice/inbound/verify",
        method="POST",
        timeout=10,
    )
    _say(
        gather,
        words["call_inbound_greeting"].format(care_team=desk.care_team(language)),
        language,
        desk,
    )
    return _to_care_team(response, language, desk)


def verify_inbound_call(
    session: Session, *, caller: str, digits: str, desk: CallDesk, clock: Clock
) -> str:
    """After the keys: the latest message for the verified patient, or the care team."""
    patient = _caller(session, caller)
    response = VoiceResponse()
    language = (patient.language if patient else None) or "en"
    words = conversation_words(language)
    if digits.startswith(TRANSFER) and len(digits) == 1:
        return _to_care_team(response, language, desk)
    if patient is None or patient.birth_date is None or digits != _keyed(patient):
        _say(response, words["call_not_verified"], language, desk)
        return _to_care_team(response, language, desk)
    latest = last_message_of(session, patient_id=patient.id)
    if latest is None:
        _say(response, words["call_no_message"], language, desk)
        return _to_care_team(response, language, desk)
    patient_caller = Principal(
        actor=f"patient:{patient.id}",
        role=Role.PATIENT,
        patient_ids=frozenset({patient.id}),
        source="phone",
    )
    Auditor(session, clock, patient_caller, Purpose.PATIENT_REQUEST)(
        AuditAction.READ,
        "patient-message",
        [patient.id],
        detail={"outbox_id": latest.id, "via": "inbound-call"},
    )
    action = f"{desk.base_url.rstrip('/')}/webhooks/twilio/voice/gather?m={latest.id}"
    gather = menu_gather(response, action_url=action, language=language, speech=desk.speech)
    _say(gather, latest.body, language, desk)
    _say(gather, words["call_menu"], language, desk)
    return ask_again(
        response,
        action_url=action,
        language=language,
        words=(words["sorry"], words["call_menu"], words["call_goodbye"]),
        say=say_kwargs(language, desk.voices),
        speech=desk.speech,
    )


def _keyed(patient: Patient) -> str:
    born = patient.birth_date
    assert born is not None
    return f"{born.month:02d}{born.day:02d}{born.year:04d}"
