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

from careloop.channels.keywords import Keyword, parse_reply
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
SECOND_TRY = 2
"""The menu is asked at most twice: a second unoffered key (or silence) hears goodbye."""
SPEECH_TIMEOUT = "auto"
"""Speech ends at the caller's pause (Twilio's ``speechTimeout="auto"``)."""


def _say_language(language: str) -> str:
    return SAY_LANGUAGE.get(language.lower(), language)


def say_kwargs(language: str | None, voices: Mapping[str, str] | None = None) -> dict[str, str]:
    """``<Say>`` attributes for a language: its Twilio locale, and its voice when configured."""
    primary = (language or "en").split("-")[0].lower()
    kwargs = {"language": _say_language(primary if primary in SAY_LANGUAGE else language or "en")}
    voice = (voices or {}).get(primary)
    if voice:
        kwargs["voice"] = voice
    return kwargs


def spoken_twiml(
    text: str,
    *,
    language: str | None,
    voices: Mapping[str, str] | None = None,
    transfer: tuple[str, str] | None = None,
) -> str:
    """TwiML that says ``text`` once (in the language's Twilio locale and voice), then
    connects the call (``transfer``: what to say, the number to dial) or hangs up: the call
    does not go back to its menu as if nothing had been said."""
    response = VoiceResponse()
    kwargs = say_kwargs(language, voices)
    response.say(text, **kwargs)
    if transfer is not None:
        response.say(transfer[0], **kwargs)
        response.dial(transfer[1])
    response.hangup()
    return str(response)


def attempt_url(action_url: str, attempt: int) -> str:
    """The gather action URL for the menu's ``attempt``-th asking (the first is as given)."""
    if attempt <= 1:
        return action_url
    return f"{action_url}{'&' if '?' in action_url else '?'}attempt={attempt}"


def menu_gather(response: Any, *, action_url: str, language: str | None, speech: bool) -> Any:
    """A ``<Gather>`` that takes one key or, with ``speech`` (``channels.voice.speech``),
    spoken words recognised in the call's language: words a person says on the call are read
    as a reply is, red flags included. Without it the menu is keys only, and Twilio bills no
    speech recognition."""
    if not speech:
        return response.gather(
            input="dtmf", num_digits=1, action=action_url, method="POST", timeout=8
        )
    return response.gather(
        input="dtmf speech",
        num_digits=1,
        action=action_url,
        method="POST",
        timeout=8,
        speech_timeout=SPEECH_TIMEOUT,
        language=_say_language((language or "en").split("-")[0].lower()),
    )


def ask_again(
    response: Any,
    *,
    action_url: str,
    language: str | None,
    words: tuple[str, str, str],
    say: Mapping[str, str],
    speech: bool,
) -> str:
    """Say sorry, ask the menu a second (last) time, then goodbye: ``words`` are (sorry,
    menu, goodbye) in the call's language, ``say`` the ``<Say>`` attributes, ``speech``
    whether the menu also listens for words."""
    sorry, menu, goodbye = words
    gather = menu_gather(
        response,
        action_url=attempt_url(action_url, SECOND_TRY),
        language=language,
        speech=speech,
    )
    gather.say(sorry, **say)
    gather.say(menu, **say)
    response.say(goodbye, **say)
    response.hangup()
    return str(response)


def _voice_parts(message: OutboundMessage) -> VoiceParts:
    if message.channel is not ChannelKind.VOICE or message.voice is None:
        raise InvalidInput("not a voice message (voice parts missing)", field="voice")
    return message.voice


def render_call_twiml(
    message: OutboundMessage, *, answered_by: str | None, speech: bool = True
) -> str:
    """The TwiML for this call, given Twilio's ``AnsweredBy`` (``None`` when unknown).

    A person (``human``) hears the reminder inside a one-key (or, with ``speech``, spoken)
    ``<Gather>``; an
    answering machine (``machine_*``, ``fax``) only hears ``voicemail_text``; when we cannot
    tell (``unknown`` or no detection) the voicemail-safe text is spoken with the menu, so a
    person can still confirm or ask for a call without the machine recording details. When
    nothing is pressed or said, the menu is asked once more, then goodbye.
    """
    parts = _voice_parts(message)
    kw: dict[str, str] = {"language": _say_language(message.language)}
    if parts.voice:
        kw["voice"] = parts.voice
    response = VoiceResponse()
    machine = answered_by is not None and (
        answered_by.startswith("machine") or answered_by == "fax"
    )
    if machine:
        response.say(parts.voicemail_text, **kw)
        response.hangup()
        return str(response)
    action = parts.gather_action_url
    gather = menu_gather(response, action_url=action, language=message.language, speech=speech)
    spoken = message.body if answered_by == HUMAN else parts.voicemail_text
    gather.say(spoken, **kw)
    gather.say(parts.gather_prompt, **kw)
    # Nothing pressed or said: asked once more, then goodbye.
    words = (parts.reprompt, parts.gather_prompt, parts.goodbye)
    return ask_again(
        response,
        action_url=action,
        language=message.language,
        words=words,
        say=kw,
        speech=speech,
    )


class TwilioVoiceChannel:
    """Places one call per message with ``calls.create``; the call sid is the provider id."""

    def __init__(
        self,
        *,
        client: Any,
        caller_id: str,
        calls_per_second: float = 1.0,
        machine_detection: bool = True,
        speech: bool = True,
    ) -> None:
        self._client = client
        self._caller_id = caller_id
        self._limit = RateLimit(messages_per_second=calls_per_second)
        self._machine_detection = machine_detection
        self._speech = speech

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.VOICE

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        # Twilio limits calls per account (CPS), not per number: one limit for every sender.
        return self._limit

    def sender_now(self, sender: str | None) -> str | None:
        """The caller id configured now: a call queued while another number was configured
        (the demo's, one given up) is placed from today's, as a text is (``SenderChoice``);
        one number places every call, so the row's own is kept only when it is that one."""
        return sender if sender == self._caller_id else self._caller_id

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
            options["twiml"] = render_call_twiml(message, answered_by=None, speech=self._speech)
        return create_with_twilio(
            lambda: self._client.calls.create(**options),
            idempotency_key=message.idempotency_key,
            statuses=TWILIO_CALL_STATUS,
        )


def parse_gather_callback(
    params: Mapping[str, Any], *, received_at: datetime, attempt: int = 1
) -> InboundMessage | None:
    """The key pressed (``Digits``) or the words said (``SpeechResult``) during a call, as a
    reply from the person called; None when neither came (nothing pressed or said).

    ``1`` confirms, ``2`` asks to talk to someone; other keys come through as a number so
    nothing pressed is lost; words are classified as a text is (a spoken "stop" is a STOP,
    anything else free text). On calls we placed (``Direction`` ``outbound-api``) the person
    is ``To``; on calls they placed, ``From``. The menu's second asking (``attempt`` 2) is
    a reply of its own, not a retry of the first.
    """
    digits = str(params.get("Digits") or "").strip()
    speech = " ".join(str(params.get("SpeechResult") or "").split())
    call_sid = required_field(params, "CallSid")
    outbound = str(params.get("Direction", "outbound-api")).startswith("outbound")
    person, ours = ("To", "From") if outbound else ("From", "To")
    sender, recipient = required_field(params, person), required_field(params, ours)
    if not digits and not speech:
        return None
    if digits:
        keyword = VOICE_MENU.get(digits, Keyword.FREE_TEXT)
        number = Decimal(digits) if keyword is Keyword.FREE_TEXT and digits.isdigit() else None
        body, possible_opt_out = digits, False
    else:
        reply = parse_reply(speech)
        keyword, number, possible_opt_out = reply.keyword, reply.number, reply.possible_opt_out
        body = speech
    suffix = "" if attempt <= 1 else f":{attempt}"
    return InboundMessage(
        channel=ChannelKind.VOICE,
        sender=sender,
        recipient=recipient,
        body=body,
        provider_id=f"{call_sid}:gather{suffix}",
        received_at=ensure_utc(received_at),
        keyword=keyword,
        number=number,
        possible_opt_out=possible_opt_out,
        in_reply_to=call_sid,
    )
