"""Free text for a person to read: routine, or urgent when it names a red-flag symptom.

A known patient's words that are no keyword and no check-in answer (an SMS reply, an SMS
that answers no reminder, a portal message) become a task on the worklist. When
:func:`careloop.channels.red_flags.read_red_flags` finds a symptom in them, the task is
urgent (high when the only words are fever or chills and the patient is not on anticancer
therapy), due within the SLA of that severity, titled with the symptom, filed for the
clinical team that gets the urgent alerts, and the sender is answered at once from
``content/advice`` (no PHI): queued on the channel they wrote from, in their own language (a
caregiver's recorded language, else the patient's, else the clinic's), or, when the words
were spoken on a call, returned to be said on that call in the call's language. The task
keeps the symptom names, never the text: the words stay in the stored reply.

Whether the patient is on therapy is decided as the febrile-neutropenia rule decides it
(:func:`careloop.feedback.therapy.active_therapy` on the record).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from careloop.careteam.alerts import create_task
from careloop.careteam.safety import advice_text
from careloop.careteam.unmatched import task_for_unknown_sender
from careloop.channels.messages import ChannelKind, InboundMessage
from careloop.channels.red_flags import FEVER, SELF_HARM, RedFlags, read_red_flags
from careloop.clock import FrozenClock
from careloop.content.advice import advice_library, render_advice
from careloop.conversations.context import InboundContext
from careloop.feedback.ruleset import Severity
from careloop.feedback.therapy import THERAPY_TYPES, active_therapy
from careloop.outreach import replies
from careloop.records.caregivers import sender_languages
from careloop.records.resources import patient_resources
from careloop.records.service import get_patient

ACTOR = "system:outreach"
RED_FLAG_RULE = "outreach-reply-red-flag"
"""Its own rule: an open routine "read the reply" task must not absorb (and hide) it."""
CLINICAL_TEAM = "oncology-nursing"
"""Where the urgent symptom alerts go (feedback rules ``symptom-emergency``,
``febrile-neutropenia``)."""
SELF_HARM_TEAM = "behavioral-health"
EVIDENCE = (
    "NCI Chemotherapy and You; ASCO/Cancer.Net and ONS 'call your care team if' lists; "
    "Taplitz RA et al. ASCO/IDSA 2018 (fever during anticancer therapy)",
)


@dataclass(frozen=True)
class FreeTextAnswer:
    """How a free-text message was answered: ``queued`` on its own channel, or ``say`` (in
    ``language``) on the call it was spoken on, before anything else is said."""

    queued: bool = False
    say: str | None = None
    language: str | None = None


@dataclass(frozen=True)
class ToRead:
    """The routine task a free-text message files when it names no red flag."""

    title: str
    summary: str
    urgent: bool = False


def person_task(
    session: Session,
    *,
    patient_id: str,
    rule_id: str,
    title: str,
    summary: str,
    urgent: bool,
    program: str | None,
    now: datetime,
    values: dict[str, object] | None = None,
) -> None:
    """A reply that needs a person: a task on the care coordinators' worklist."""
    create_task(
        session,
        patient_id=patient_id,
        rule_id=rule_id,
        title=title,
        summary=summary,
        severity=Severity.HIGH if urgent else Severity.ROUTINE,
        clock=FrozenClock(now),
        actor=ACTOR,
        program=program,
        team="care-coordination",
        values=values,
    )


def on_therapy(session: Session, *, patient_id: str, now: datetime) -> bool:
    """On active systemic anticancer therapy, as the febrile-neutropenia rules decide it."""
    found = patient_resources(session, patient_id=patient_id, resource_types=THERAPY_TYPES)
    return bool(active_therapy(found, now=now))


def _severity(flags: RedFlags, therapy: bool) -> Severity:
    return Severity.HIGH if flags.mild_only() and not therapy else Severity.URGENT


def _advice(flags: RedFlags, therapy: bool) -> str:
    """The one advice message to answer with, the most pressing first."""
    if SELF_HARM in flags.symptoms:
        return "self_harm"
    if therapy and flags.fever():
        return "fever_on_therapy"
    if not flags.mild_only():
        return "emergency_symptom"
    return "message_red_flag"


def _words(symptoms: tuple[str, ...]) -> str:
    return ", ".join(s.replace("-", " ") for s in symptoms)


def answer_language(
    session: Session, *, patient_id: str, caregiver_id: str | None, clinic_language: str
) -> str:
    """The sender's own language we have advice in: a caregiver's recorded language, else the
    patient's, else the clinic's (a caregiver is not answered in the patient's language when
    the record says theirs)."""
    wanted = sender_languages(
        session,
        patient_language=get_patient(session, patient_id).language,
        caregiver_id=caregiver_id,
    )
    spoken = advice_library()
    for language in wanted:
        if language.split("-")[0].lower() in spoken:
            return language
    return clinic_language


def _channel(message: InboundMessage) -> str:
    if message.channel in (ChannelKind.PORTAL, ChannelKind.VOICE):
        return str(message.channel)
    return "sms"


def file_free_text(
    session: Session,
    *,
    ctx: InboundContext,
    message: InboundMessage,
    patient_id: str,
    program: str | None,
    routine: ToRead,
    caregiver_id: str | None = None,
    call_language: str | None = None,
) -> FreeTextAnswer:
    """The task for a free-text message, and how the sender was answered. Words spoken on a
    call (``call_language``: the call's) are answered on it, never by a message queued to a
    phone that is on a call with us."""
    now = message.received_at
    flags = read_red_flags(message.body)
    if not flags.any:
        person_task(
            session,
            patient_id=patient_id,
            rule_id="outreach-reply",
            title=routine.title,
            summary=routine.summary,
            urgent=routine.urgent,
            program=program,
            now=now,
        )
        return FreeTextAnswer()
    therapy = on_therapy(session, patient_id=patient_id, now=now)
    severity = _severity(flags, therapy)
    only_self_harm = flags.symptoms == (SELF_HARM,)
    who = "Caregiver" if caregiver_id else "Patient"
    context = " on anticancer therapy" if therapy and FEVER in flags.symptoms else ""
    create_task(
        session,
        patient_id=patient_id,
        rule_id=RED_FLAG_RULE,
        title=f"{who} message mentions {_words(flags.symptoms)}{context} - read now",
        summary=f"{routine.summary} Red-flag words: {_words(flags.symptoms)}.",
        severity=severity,
        clock=FrozenClock(now),
        actor=ACTOR,
        program=program,
        team=SELF_HARM_TEAM if only_self_harm else CLINICAL_TEAM,
        values={"symptoms": list(flags.symptoms), "on_therapy": therapy},
        evidence=EVIDENCE,
    )
    language = call_language or answer_language(
        session,
        patient_id=patient_id,
        caregiver_id=caregiver_id,
        clinic_language=ctx.settings.clinic_language,
    )
    body = advice_text(
        session,
        patient_id=patient_id,
        advice=[_advice(flags, therapy)],
        phone=ctx.settings.clinic_phone,
        channel=_channel(message),
        language=language,
    )
    if body is None:
        return FreeTextAnswer()
    if message.channel is ChannelKind.VOICE:
        return FreeTextAnswer(say=body, language=language)
    # A reply to the sender's own message: transactional, like a HELP answer.
    queued = replies.queue_reply_text(
        session,
        message=message,
        patient_id=patient_id,
        body=body,
        purpose="clinical-monitoring",
        language=language,
        caregiver_id=caregiver_id,
    )
    return FreeTextAnswer(queued=queued)


def unknown_sender_words(
    session: Session, *, ctx: InboundContext, message: InboundMessage
) -> str | None:
    """Words from a number that matches nobody: a task to read them and link the sender (urgent
    when they name a red-flag symptom); then what to tell the sender at once, in the clinic's
    language (no patient to ask anything of), or None."""
    flags = read_red_flags(message.body)
    task_for_unknown_sender(
        session,
        channel=str(message.channel),
        sender=message.sender,
        reply_ref=message.provider_id,
        clock=FrozenClock(message.received_at),
        symptoms=flags.symptoms,
    )
    if not flags.any:
        return None
    return render_advice(
        "message_red_flag" if flags.mild_only() else "emergency_symptom",
        language=ctx.settings.clinic_language,
        phone=ctx.settings.clinic_phone,
        channel=_channel(message),
    )
