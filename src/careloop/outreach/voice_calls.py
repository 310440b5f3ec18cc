"""What a reminder call says when it is answered: the TwiML for one outbox message.

The worker places voice calls with an answer URL (``/webhooks/twilio/voice/answer?m=<id>``)
and answering-machine detection; when Twilio fetches it, this module reads the message's row
and renders the approved, rendered script in the patient's language for a person, or only the
voicemail-safe line for a machine (:func:`careloop.channels.voice_twilio.render_call_twiml`).
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session
from twilio.twiml.voice_response import VoiceResponse

from careloop.channels.messages import ChannelKind, OutboundMessage, VoiceParts
from careloop.channels.voice_twilio import SAY_LANGUAGE, render_call_twiml
from careloop.content.conversation_words import conversation_words
from careloop.errors import NotFound
from careloop.models import OutboxMessage
from careloop.outreach.config import OutreachSettings, care_team_for


def voicemail_line(settings: OutreachSettings, *, language: str) -> str:
    """What an answering machine hears, in the call's language: who called and a number to
    call back, nothing about care (minimum necessary)."""
    return conversation_words(language)["call_voicemail"].format(
        care_team=care_team_for(settings, language), clinic_phone=settings.clinic_phone
    )


def voice_parts(
    *,
    message_id: int,
    base_url: str,
    voicemail_text: str,
    language: str = "en",
    voices: Mapping[str, str] | None = None,
) -> VoiceParts:
    """The call's parts in the patient's language: the key menu and goodbye come from the
    content library's conversation words, the ``<Say>`` voice from ``channels.voice.voices``."""
    base = base_url.rstrip("/")
    words = conversation_words(language)
    primary = language.split("-")[0].lower()
    return VoiceParts(
        voicemail_text=voicemail_text,
        gather_action_url=f"{base}/webhooks/twilio/voice/gather?m={message_id}",
        answer_url=f"{base}/webhooks/twilio/voice/answer?m={message_id}",
        gather_prompt=words["call_menu"],
        goodbye=words["call_goodbye"],
        voice=(voices or {}).get(primary),
    )


def goodbye_twiml(session: Session, *, message_id: int | None, voices: Mapping[str, str]) -> str:
    """What the patient hears after pressing a key: goodbye in the call's language."""
    row = session.get(OutboxMessage, message_id) if message_id is not None else None
    language = row.language if row is not None else "en"
    primary = language.split("-")[0].lower()
    response = VoiceResponse()
    kwargs = {"language": SAY_LANGUAGE.get(primary, language)}
    if voices.get(primary):
        kwargs["voice"] = voices[primary]
    response.say(conversation_words(language)["call_goodbye"], **kwargs)
    response.hangup()
    return str(response)


def call_twiml(
    session: Session,
    *,
    message_id: int,
    answered_by: str | None,
    base_url: str,
    settings: OutreachSettings,
    voices: Mapping[str, str] | None = None,
) -> str:
    """The TwiML for the call placed for ``message_id``, for whoever (or whatever) answered.

    A row queued without its own voicemail line (a workflow's ``request_message`` keeps only
    the rendered script) gets the standard one in its language: a machine is never left an
    empty ``<Say/>``."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.channel != str(ChannelKind.VOICE):
        raise NotFound("no such call")
    voicemail = (row.extra or {}).get("voicemail_text") or voicemail_line(
        settings, language=row.language
    )
    message = OutboundMessage(
        channel=ChannelKind.VOICE,
        to=row.to_address,
        body=row.body,
        idempotency_key=row.idempotency_key,
        sender=row.sender,
        language=row.language,
        voice=voice_parts(
            message_id=row.id,
            base_url=base_url,
            voicemail_text=str(voicemail),
            language=row.language,
            voices=voices,
        ),
    )
    return render_call_twiml(message, answered_by=answered_by)
