"""Voice reminders through Twilio's Calls API with TwiML, and the key press as a reply.

With ``VoiceParts.answer_url`` the call is placed with answering-machine detection
(``MachineDetection=DetectMessageEnd``): Twilio waits for the greeting to end, then asks our
TwiML endpoint, telling it ``AnsweredBy``; :func:`render_call_twiml` then gives a person the
reminder and the menu, and a machine only the voicemail-safe text (minimum necessary: who is
calling and a number to call back, nothing about care). Without an answer URL the TwiML is
sent inline and, since nobody can tell who picked up, holds only the voicemail-safe text.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from twilio.twiml.voice_response import VoiceResponse

from careloop.channels.keywords import Keyword
from careloop.channels.messages import (
    ChannelKind,
    InboundMessage,
    OutboundMessage,
    RateLimit,
    SendResult,
    VoiceParts,
)
from careloop.channels.twilio_calls import create_with_twilio
from careloop.channels.twilio_webhooks import TWILIO_CALL_STATUS, required_field
from careloop.clock import ensure_utc
from careloop.errors import InvalidInput

VOICE_MENU: dict[str, Keyword] = {"1": Keyword.CONFIRM, "2": Keyword.TALK_TO_SOMEONE}
"""Keys of the spoken menu; keep in step with ``VoiceParts.gather_prompt``."""

SAY_LANGUAGE: dict[str, str] = {"en": "en-US", "es": "es-US", "pt": "pt-BR", "zh": "zh-CN"}
"""Twilio ``<Say>`` wants a locale; our messages carry a language."""

HUMAN = "human"


def _say_language(language: str) -> str:
    return SAY_LANGUAGE.get(language.lower(), language)


def spoken_twiml(text: str, *, language: str | None) -> str:
    """TwiML that says ``text`` once (in the language's Twilio locale) and hangs up."""
    response = VoiceResponse()
    response.say(text, language=_say_language(language or "en"))
    response.hangup()
    return str(response)


def _voice_parts(message: OutboundMessage) -> VoiceParts:
    if message.channel is not ChannelKind.VOICE or message.voice is None:
        raise InvalidInput("not a voice message (voice parts missing)", field="voice")
    return message.voice


def render_call_twiml(message: OutboundMessage, *, answered_by: str | None) -> str:
    """The TwiML for this call, given Twilio's ``AnsweredBy`` (``None`` when unknown).

    A person (``human``) hears the reminder inside a one-key ``<Gather>``; an answering
    machine (``machine_*``, ``fax``) only hears ``voicemail_text``; when we cannot tell
    (``unknown`` or no detection) the voicemail-safe text is spoken with the menu, so a
    person can still confirm or ask for a call without the machine recording details.
    """
    parts = _voice_parts(message)
    language = _say_language(message.language)
    say_kwargs: dict[str, str] = {"language": language}
    if parts.voice:
        say_kwargs["voice"] = parts.voice
    response = VoiceResponse()
    machine = answered_by is not None and (
        answered_by.startswith("machine") or answered_by == "fax"
    )
    if machine:
        response.say(parts.voicemail_text, **say_kwargs)
        response.hangup()
        return str(response)
    gather = response.gather(num_digits=1, action=parts.gather_action_url, method="POST", timeout=8)
    spoken = message.body if answered_by == HUMAN else parts.voicemail_text
    gather.say(spoken, **say_kwargs)
    gather.say(parts.gather_prompt, **say_kwargs)
    response.say(parts.goodbye, **say_kwargs)  # no key pressed
    response.hangup()
    return str(response)


class TwilioVoiceChannel:
    """Places one call per message with ``calls.create``; the call sid is the provider id."""

    def __init__(
        self,
        *,
        client: Any,
        caller_id: str,
        calls_per_second: float = 1.0,
        machine_detection: bool = True,
    ) -> None:
        self._client = client
        self._caller_id = caller_id
        self._limit = RateLimit(messages_per_second=calls_per_second)
        self._machine_detection = machine_detection

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.VOICE

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        # Twilio limits calls per account (CPS), not per number: one limit for every sender.
        return self._limit

    def send(self, message: OutboundMessage) -> SendResult:
        parts = _voice_parts(message)
        options: dict[str, Any] = {
            "to": message.to,
            "from_": message.sender or self._caller_id,
            "status_callback": message.status_callback_url,
        }
        if parts.answer_url:
            options["url"] = parts.answer_url
            options["method"] = "POST"
            if self._machine_detection:
                options["machine_detection"] = "DetectMessageEnd"
        else:
            options["twiml"] = render_call_twiml(message, answered_by=None)
        return create_with_twilio(
            lambda: self._client.calls.create(**options),
            idempotency_key=message.idempotency_key,
            statuses=TWILIO_CALL_STATUS,
        )


def parse_gather_callback(params: Mapping[str, Any], *, received_at: datetime) -> InboundMessage:
    """The key pressed during a call (``Digits``) as a reply from the person called.

    ``1`` confirms, ``2`` asks to talk to someone; other keys come through as a number so
    nothing pressed is lost. On calls we placed (``Direction`` ``outbound-api``) the person
    is ``To``; on calls they placed, ``From``.
    """
    digits = required_field(params, "Digits")
    call_sid = required_field(params, "CallSid")
    outbound = str(params.get("Direction", "outbound-api")).startswith("outbound")
    person, ours = ("To", "From") if outbound else ("From", "To")
    keyword = VOICE_MENU.get(digits, Keyword.FREE_TEXT)
    number = Decimal(digits) if keyword is Keyword.FREE_TEXT and digits.isdigit() else None
    return InboundMessage(
        channel=ChannelKind.VOICE,
        sender=required_field(params, person),
        recipient=required_field(params, ours),
        body=digits,
        provider_id=f"{call_sid}:gather",
        received_at=ensure_utc(received_at),
        keyword=keyword,
        number=number,
        in_reply_to=call_sid,
    )
