"""Typed messages crossing the channel boundary, in both directions.

Outbound: the outbox hands an adapter one :class:`OutboundMessage` (already rendered, already
cleared by consent and quiet hours) and gets a :class:`SendResult` back, or a
:class:`~careloop.channels.errors.ChannelError`. Inbound: webhooks turn provider requests into
:class:`InboundMessage` (a reply) or :class:`DeliveryReport` (a status change of something we
sent). None of these types know what a patient or a program is; ``to``/``sender`` are the
channel's own addresses (E.164 number, email address, portal inbox key).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.keywords import Keyword


class ChannelKind(StrEnum):
    SMS = "sms"
    EMAIL = "email"
    VOICE = "voice"
    PORTAL = "portal"


_A_REPLY = {"sms": "An SMS reply", "email": "An email reply", "voice": "A voice reply"}


def a_reply_by(channel: str) -> str:
    """``An SMS reply`` for staff text ("A sms reply" read as a typo)."""
    return _A_REPLY.get(str(channel), f"A {channel} reply")


class DeliveryStatus(StrEnum):
    """Where a sent message stands, as far as the provider tells us.

    ``queued`` → ``sent`` → ``delivered`` (→ ``read`` for the portal); or ``undelivered`` /
    ``failed`` / ``bounced`` with a reason. For calls: ``completed`` (answered and finished),
    ``no-answer``, ``busy``. Providers may skip states and callbacks may arrive out of order:
    the outbox should never move a message backward.
    """

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    UNDELIVERED = "undelivered"
    FAILED = "failed"
    BOUNCED = "bounced"
    DELAYED = "delayed"
    COMPLETED = "completed"
    NO_ANSWER = "no-answer"
    BUSY = "busy"

    @property
    def is_final_failure(self) -> bool:
        return self in {
            DeliveryStatus.UNDELIVERED,
            DeliveryStatus.FAILED,
            DeliveryStatus.BOUNCED,
            DeliveryStatus.NO_ANSWER,
            DeliveryStatus.BUSY,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailParts:
    """What email needs beyond the plain-text ``body``.

    ``unsubscribe_url`` is the one-click (RFC 8058) HTTPS endpoint; it must accept a POST
    with ``List-Unsubscribe=One-Click`` and carry its own token (no login).
    """

    subject: str
    html: str | None = None
    unsubscribe_url: str
    unsubscribe_mailto: str | None = None
    reply_to: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoiceParts:
    """A spoken reminder with a one-key menu.

    ``body`` of the message is what a person who answered hears. ``voicemail_text`` is what
    an answering machine records: minimum necessary, no diagnosis, no appointment type (e.g.
    "This is Riverside Clinic with a message for you. Please call 555 0100."). ``answer_url``
    is our TwiML endpoint; with it the call uses answering-machine detection and the webhook
    renders :func:`careloop.channels.voice_twilio.render_call_twiml` for the answerer. Without
    it the whole call is inline TwiML and, since nobody can tell who answered, only the
    voicemail-safe text is spoken.
    """

    voicemail_text: str
    gather_action_url: str
    gather_prompt: str = "Press 1 to confirm. Press 2 to talk to someone."
    goodbye: str = "Thank you. Goodbye."
    """Said before hanging up when no key was pressed twice (and after one, by the webhook)."""
    reprompt: str = "Sorry, I did not understand that."
    """Said once before the menu is asked again, when nothing was pressed or said."""
    answer_url: str | None = None
    voice: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalParts:
    """A patient-portal inbox message: a title shown in the list, the body when opened."""

    title: str
    html: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundMessage:
    """One rendered message for one recipient on one channel.

    ``idempotency_key`` is stable across retries of the same outbox row (e.g. the outbox row
    id): adapters pass it to providers that deduplicate, derive ids from it, or both.
    ``status_callback_url`` should carry the outbox's own code for the attempt, so the
    callback finds the attempt without trusting the provider's id alone.
    """

    channel: ChannelKind
    to: str
    body: str
    idempotency_key: str
    sender: str | None = None
    status_callback_url: str | None = None
    language: str = "en"
    email: EmailParts | None = None
    voice: VoiceParts | None = None
    portal: PortalParts | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    """The provider accepted the message: its id (for callbacks) and the state it reported."""

    provider_id: str
    status: DeliveryStatus


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """How fast one sender may send, as the provider or carrier allows (the outbox enforces)."""

    messages_per_second: float

    @property
    def min_interval_seconds(self) -> float:
        return 1.0 / self.messages_per_second


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryReport:
    """A status change of a message we sent (status callback, bounce, read receipt)."""

    channel: ChannelKind
    provider_id: str
    status: DeliveryStatus
    reported_at: datetime
    failure: ChannelError | None = None
    """Set when ``status`` is a failure: ``failure.permanent`` says whether to stop trying."""

    @property
    def reason(self) -> FailureReason | None:
        return self.failure.reason if self.failure else None


@dataclass(frozen=True, slots=True, kw_only=True)
class InboundMessage:
    """A reply from a person: an SMS, a key pressed during a call, a portal reply.

    ``keyword`` and ``number`` come from :func:`careloop.channels.keywords.parse_reply` (or the
    voice menu); the outbox/feedback layer decides what they mean for the patient.
    """

    channel: ChannelKind
    sender: str
    recipient: str
    body: str
    provider_id: str
    received_at: datetime
    keyword: Keyword
    number: Decimal | None = None
    possible_opt_out: bool = False
    in_reply_to: str | None = None
    """The provider id of the message this answers, when the channel knows it (calls)."""
