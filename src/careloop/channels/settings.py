"""Settings for the channels, one group per channel (``CARELOOP_CHANNELS__SMS__...``).

``provider`` picks the adapter from :mod:`careloop.channels.registry`; ``fake`` is the default
so a fresh install never texts anybody. Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import re
from typing import Literal

import phonenumbers
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from careloop.channels.senders import SenderType

TWILIO_API_BASE = "https://api.twilio.com"


def e164_sender(number: str) -> str:
    """``number`` if it is E.164 as written (``+16175550000``), else ``ValueError``: a number
    we send or call from is checked when settings load, so ``serve``/``worker`` refuse it."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        raise ValueError("sender number must be E.164, e.g. +16175550000") from None
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 != number or not phonenumbers.is_possible_number(parsed):
        raise ValueError("sender number must be E.164, e.g. +16175550000")
    return number


MESSAGING_SERVICE_SID = re.compile(r"MG[0-9a-fA-F]{32}")
"""A Twilio Messaging Service SID: ``MG`` and 32 hex digits."""


def _messaging_service_sid(sid: str | None) -> str | None:
    """Checked at start: a Messaging Service SID as Twilio writes it (``MG`` + 32 hex)."""
    if sid is not None and not MESSAGING_SERVICE_SID.fullmatch(sid):
        raise ValueError("a Messaging Service SID is MG followed by 32 hex digits")
    return sid


def _optional_e164(number: str | None) -> str | None:
    return None if number is None else e164_sender(number)


def _optional_sms_sender(number: str | None) -> str | None:
    if number is not None and number.isdigit() and 3 <= len(number) <= 8:
        return number  # a short code
    return _optional_e164(number)


class SmsSender(BaseModel):
    """One number (or short code) we send from, and how fast it may send."""

    number: str
    type: SenderType = SenderType.LONG_CODE
    messages_per_second: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _a_number_twilio_takes(self) -> SmsSender:
        """Checked at start, not at the first send: a long code or toll-free number must be
        E.164 as written (``+16175550000``); a short code is 3 to 8 digits."""
        if self.type is SenderType.SHORT_CODE and self.number.isdigit():
            if not 3 <= len(self.number) <= 8:
                raise ValueError("a short code has 3 to 8 digits")
            return self
        e164_sender(self.number)
        return self

    @property
    def effective_messages_per_second(self) -> float:
        return self.messages_per_second or self.type.default_messages_per_second


class TwilioAccount(BaseModel):
    account_sid: str = ""
    auth_token: SecretStr = SecretStr("")
    base_url: str = TWILIO_API_BASE
    """Any Twilio-compatible gateway: ``https://api.twilio.com`` or your own."""
    timeout_seconds: float = Field(default=10.0, gt=0)


class SmsSettings(TwilioAccount):
    provider: Literal["twilio", "fake"] = "fake"
    senders: list[SmsSender] = []
    default_sender: str | None = None
    """The number used when a message names none; the first sender when unset."""
    messaging_service_sid: str | None = None
    """A Twilio Messaging Service (``MG`` + 32 hex digits): texts are sent with
    ``MessagingServiceSid`` instead of ``From`` and Twilio picks the number from the
    service's sender pool. ``senders`` are then optional (listed, they pace the worker)."""

    _e164_default = field_validator("default_sender")(_optional_sms_sender)
    _service_sid = field_validator("messaging_service_sid")(_messaging_service_sid)


def account_or_sms(account: TwilioAccount | None, sms: SmsSettings) -> TwilioAccount:
    """A channel's own Twilio account, each credential it leaves empty taken from the SMS
    account (``CARELOOP_CHANNELS__VOICE__ACCOUNT__BASE_URL`` alone keeps the SMS account's
    SID and token, as the settings say, instead of calling ``/Accounts/None``)."""
    if account is None:
        return sms
    token = account.auth_token if account.auth_token.get_secret_value() else sms.auth_token
    return account.model_copy(
        update={"account_sid": account.account_sid or sms.account_sid, "auth_token": token}
    )


class EmailSettings(BaseModel):
    provider: Literal["smtp", "fake"] = "fake"
    host: str = "localhost"
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False
    """SMTPS (port 465): TLS from the first byte; ``starttls`` is then ignored."""
    username: str | None = None
    password: SecretStr | None = None
    from_address: str = "careloop@localhost"
    from_name: str | None = None
    """Display name in From (``Riverside Clinic <care@clinic.example>``)."""
    bounce_address: str | None = None
    """Envelope sender (Return-Path) where DSN bounces go; ``from_address`` when unset."""
    message_id_domain: str | None = None
    """Right-hand side of our Message-IDs; the domain of ``from_address`` when unset."""
    ca_file: str | None = None
    """Trust this CA bundle for the server's certificate (private relays); system CAs if unset."""
    timeout_seconds: float = Field(default=30.0, gt=0)
    messages_per_second: float | None = Field(default=None, gt=0)


class VoiceSettings(BaseModel):
    provider: Literal["twilio", "fake"] = "fake"
    account: TwilioAccount | None = None
    """Twilio account for calls; the SMS account when unset."""
    caller_id: str | None = None
    """The number calls come from; the SMS default sender when unset."""
    calls_per_second: float = Field(default=1.0, gt=0)
    """Twilio's default outbound call rate per account is 1 call/second."""
    machine_detection: bool = True
    speech: bool = True
    """Callers may answer a call's menu by voice as well as by key (``<Gather input="dtmf
    speech">``, read as a text is: a spoken "stop", red-flag words). Twilio bills each
    prompt that listens for speech; ``false`` makes every menu keys only (``input="dtmf"``)."""
    care_team_number: str | None = None
    """E.164 number an inbound call is connected to (``<Dial>``) when the caller asks for the
    care team or cannot be verified; unset, the caller hears ``outreach.clinic_phone``."""
    voices: dict[str, str] = Field(
        default_factory=lambda: {"en": "Polly.Joanna", "es": "Polly.Lupe"}
    )
    """``<Say voice=...>`` per language (a US Spanish voice for Spanish, so a Spanish script is
    never read with English phonetics); a language not listed uses Twilio's default voice."""

    _e164_numbers = field_validator("caller_id", "care_team_number")(_optional_e164)


class LookupSettings(BaseModel):
    """Line-type look-up before texting (Twilio Lookup v2 ``line_type_intelligence``): a
    number the provider calls a landline is never texted, whatever the record's ``use``."""

    provider: Literal["twilio", "none"] = "none"
    """``twilio``: ask at import about each imported patient's phones; ``none``: trust ``use``."""
    base_url: str = "https://lookups.twilio.com"
    """Any Twilio Lookup-compatible service."""
    account: TwilioAccount | None = None
    """Account for look-ups; the SMS account when unset."""
    timeout_seconds: float = Field(default=10.0, gt=0)
    max_age_days: float = Field(default=180.0, gt=0)
    """How long an answer is kept (numbers are ported between mobile and landline rarely)."""


class PortalSettings(BaseModel):
    provider: Literal["inbox", "fake"] = "inbox"


class ChannelsSettings(BaseModel):
    sms: SmsSettings = SmsSettings()
    email: EmailSettings = EmailSettings()
    voice: VoiceSettings = VoiceSettings()
    portal: PortalSettings = PortalSettings()
    lookup: LookupSettings = LookupSettings()
