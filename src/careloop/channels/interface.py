"""The one interface every channel adapter implements, whatever the provider.

The outbox calls :meth:`Channel.send` after the attempt is committed, maps a
:class:`~careloop.channels.errors.ChannelError` to retry (``permanent=False``) or dead-letter
(``permanent=True``), and paces each sender by :meth:`Channel.rate_limit`. Adapters never
retry, sleep, check consent or read the database.
"""

from __future__ import annotations

from typing import Protocol

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
