"""SMS through Twilio's Messages API (or any gateway that copies it).

``POST /2010-04-01/Accounts/{sid}/Messages.json`` with To, From, Body and StatusCallback
(``MessagingServiceSid`` instead of From when ``channels.sms.messaging_service_sid`` is set:
Twilio then picks the number from the service's pool); the returned ``SM...`` sid is the
provider id the status callback will carry. Twilio does not deduplicate message creation, so a
send left in doubt by a crash is reconciled with :meth:`TwilioSmsChannel.find_sent`:
``GET Messages.json?To=&From=&DateSent>=`` (no From through a service) and a match on the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import (
    ChannelKind,
    DeliveryStatus,
    OutboundMessage,
    RateLimit,
    SendResult,
)
from careloop.channels.settings import SmsSender, SmsSettings
from careloop.channels.twilio_calls import call_twilio
from careloop.channels.twilio_http import build_twilio_client
from careloop.channels.twilio_messages import MessageCreator
from careloop.errors import InvalidInput

TWILIO_MESSAGE_STATUS: dict[str, DeliveryStatus] = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENT,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "receiving": DeliveryStatus.DELIVERED,
    "received": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}


class TwilioSmsChannel:
    """Sends each message with one create request (the package's own request, written by
    :class:`~careloop.channels.twilio_messages.MessageCreator` where the client allows);
    never retries by itself."""

    def __init__(
        self,
        *,
        client: Any,
        senders: Sequence[SmsSender],
        default_sender: str | None = None,
        messaging_service_sid: str | None = None,
    ) -> None:
        if not senders and messaging_service_sid is None:
            raise InvalidInput("at least one SMS sender is required", field="channels.sms.senders")
        self._client = client
        self._creator = MessageCreator.of_client(client)
        self._senders = {sender.number: sender for sender in senders}
        self._service = messaging_service_sid
        self._default = default_sender or (senders[0].number if senders else None)
        if self._default is not None and self._default not in self._senders:
            raise InvalidInput(
                "the default sender is not among the senders", field="channels.sms.default_sender"
            )

    @classmethod
    def from_settings(cls, settings: SmsSettings) -> TwilioSmsChannel:
        client = build_twilio_client(
            account_sid=settings.account_sid,
            auth_token=settings.auth_token.get_secret_value(),
            base_url=settings.base_url,
            timeout=settings.timeout_seconds,
        )
        return cls(
            client=client,
            senders=settings.senders,
            default_sender=settings.default_sender,
            messaging_service_sid=settings.messaging_service_sid,
        )

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.SMS

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        number = sender or self._default
        known = self._senders.get(number) if number is not None else None
        if known is None:
            return None
        return RateLimit(messages_per_second=known.effective_messages_per_second)

    def sender_now(self, sender: str | None) -> str | None:
        return sender if sender in self._senders else self._default

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> list[SendResult]:
        """Twilio's records of this text (same To, From and body, sent since ``since``).
        Through a Messaging Service Twilio chose the From: same To, service and body."""
        sender = {} if self._service else {"from_": message.sender or self._default}
        listed = call_twilio(
            lambda: self._client.messages.list(
                to=message.to, date_sent_after=since, page_size=100, **sender
            ),
            idempotency_key=message.idempotency_key,
        )
        return [
            SendResult(
                provider_id=str(found.sid),
                status=TWILIO_MESSAGE_STATUS.get(str(found.status), DeliveryStatus.QUEUED),
            )
            for found in listed
            if getattr(found, "body", None) == message.body
            and (
                self._service is None
                or getattr(found, "messaging_service_sid", None) == self._service
            )
        ]

    def send(self, message: OutboundMessage) -> SendResult:
        if message.channel is not ChannelKind.SMS:
            raise InvalidInput("not an SMS message", field="channel")
        sender = message.sender or self._default
        if self._service is None and sender not in self._senders:
            # An unknown sender has no declared rate limit; refusing keeps pacing honest.
            raise ChannelError(
                FailureReason.MISCONFIGURED, permanent=True, detail="sender not configured"
            )
        return self._creator.create(
            to=message.to,
            from_=sender,
            body=message.body,
            status_callback=message.status_callback_url,
            idempotency_key=message.idempotency_key,
            statuses=TWILIO_MESSAGE_STATUS,
            messaging_service_sid=self._service,
        )
