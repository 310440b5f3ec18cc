"""The one interface every channel adapter implements, whatever the provider.

The outbox calls :meth:`Channel.send` after the attempt is committed, maps a
:class:`~careloop.channels.errors.ChannelError` to retry (``permanent=False``) or dead-letter
(``permanent=True``), and paces each sender by :meth:`Channel.rate_limit`. Adapters never
retry, sleep, check consent or read the database.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from careloop.channels.messages import ChannelKind, OutboundMessage, RateLimit, SendResult


class Channel(Protocol):
    @property
    def kind(self) -> ChannelKind: ...

    def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the provider; raise ``ChannelError`` if it was not accepted."""
        ...

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        """The most this sender may send (``None``: the default sender); ``None`` = no limit."""
        ...


@runtime_checkable
class Reconciler(Protocol):
    """An adapter that can tell whether the provider already has a message (after a crash
    between the call and its record). Adapters without it cannot reconcile: the outbox then
    holds the message for review rather than risk sending it twice."""

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> list[SendResult]:
        """The provider's records that could be ``message`` (same recipient, sender and text,
        sent at or after ``since``); empty when it has none, so sending it now sends it once.
        The caller rules out the ones already recorded for other messages (the same text can
        go to the same person twice). Raises ``ChannelError`` when it cannot tell."""
        ...


@runtime_checkable
class SenderChoice(Protocol):
    """An adapter whose senders are configured (Twilio SMS): which one a message goes from
    *now*. A row keeps the sender chosen when it was queued; the operator may have replaced
    it since (the demo's number, a number given up), and a text must then go from the one
    configured today, as email's From does, not be refused as misconfigured."""

    def sender_now(self, sender: str | None) -> str | None:
        """``sender`` if it is configured now, else the default sender."""
        ...
