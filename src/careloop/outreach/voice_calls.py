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
from careloop.channels.voice_twilio import (
    SECOND_TRY,
    ask_again,
    render_call_twiml,
    say_kwargs,
    spoken_twiml,
)
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
        reprompt=words["sorry"],
        voice=(voices or {}).get(primary),
    )


def call_language(session: Session, *, message_id: int | None) -> str:
    """The language of the call placed for ``message_id`` (English when it names none)."""
    row = session.get(OutboxMessage, message_id) if message_id is not None else None
    return row.language if row is not None else "en"


def goodbye_twiml(session: Session, *, message_id: int | None, voices: Mapping[str, str]) -> str:
    """What the patient hears after pressing a key: goodbye in the call's language."""
    language = call_language(session, message_id=message_id)
    response = VoiceResponse()
    response.say(conversation_words(language)["call_goodbye"], **say_kwargs(language, voices))
    response.hangup()
    return str(response)


def ask_again_twiml(
    session: Session,
    *,
    message_id: int | None,
    attempt: int,
    base_url: str,
    voices: Mapping[str, str],
    speech: bool = True,
) -> str:
    """A key the menu did not offer, or nothing pressed or said: on the first asking, sorry
    and the menu once more (in the call's language; ``speech``: it also listens for words);
    on the second, goodbye. Nothing is filed: there is nothing for a person to read."""
    if attempt >= SECOND_TRY:
        return goodbye_twiml(session, message_id=message_id, voices=voices)
    language = call_language(session, message_id=message_id)
    words = conversation_words(language)
    action = f"{base_url.rstrip('/')}/webhooks/twilio/voice/gather"
    if message_id is not None:
        action += f"?m={message_id}"
    return ask_again(
        VoiceResponse(),
        action_url=action,
        language=language,
        words=(words["sorry"], words["call_menu"], words["call_goodbye"]),
        say=say_kwargs(language, voices),
        speech=speech,
    )


def safety_twiml(
    text: str, *, language: str | None, voices: Mapping[str, str], care_team_number: str | None
) -> str:
    """Advice to say at once on the call (red-flag words spoken, an urgent check-in answer),
    in the call's language and voice; then the call goes to the care team when a number is
    configured, else it ends: never back to the menu as if nothing was said."""
    words = conversation_words(language)
    transfer = (words["call_transfer"], care_team_number) if care_team_number else None
    return spoken_twiml(text, language=language, voices=voices, transfer=transfer)


def call_twiml(
    session: Session,
    *,
    message_id: int,
    answered_by: str | None,
    base_url: str,
    settings: OutreachSettings,
    voices: Mapping[str, str] | None = None,
    speech: bool = True,
) -> str:
    """The TwiML for the call placed for ``message_id``, for whoever (or whatever) answered
    (``speech``: its menu listens for words as well as keys, ``channels.voice.speech``).

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
    return render_call_twiml(message, answered_by=answered_by, speech=speech)
