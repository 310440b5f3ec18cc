"""An in-memory channel for tests, the demo and the simulator: records, and fails on demand.

It speaks the same :class:`~careloop.channels.interface.Channel` interface as the real
adapters. Every call is kept in ``attempts`` (so a test can count duplicate sends by
idempotency key); accepted ones in ``sent``. Like Twilio, it never deduplicates: a repeated
idempotency key is sent again (a fake that corrected it would hide double texts). It can be
asked what it sent (:meth:`find_sent`), as the outbox does to reconcile a send in doubt.
Tell it to fail with :meth:`fail_next` (the next
N sends) or :meth:`fail_for` (every send to one address), transiently or permanently.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from careloop.channels.errors import ChannelError
from careloop.channels.messages import (
    ChannelKind,
    DeliveryStatus,
    OutboundMessage,
    RateLimit,
    SendResult,
)
from careloop.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class FakeSend:
    message: OutboundMessage
    provider_id: str


class FakeChannel:
    def __init__(
        self,
        kind: ChannelKind,
        *,
        rate_limit: RateLimit | None = None,
        status: DeliveryStatus = DeliveryStatus.QUEUED,
    ) -> None:
        self._kind = kind
        self._rate_limit = rate_limit
        self._prefix = uuid.uuid4().hex[:8]
        self._status = status
        self._lock = threading.Lock()
        self._queued_failures: list[ChannelError] = []
        self._address_failures: dict[str, ChannelError] = {}
        self.attempts: list[OutboundMessage] = []
        self.sent: list[FakeSend] = []

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        return self._rate_limit

    def fail_next(self, error: ChannelError, *, times: int = 1) -> None:
        with self._lock:
            self._queued_failures.extend([error] * times)

    def fail_for(self, address: str, error: ChannelError) -> None:
        with self._lock:
            self._address_failures[address] = error

    def send(self, message: OutboundMessage) -> SendResult:
        if message.channel is not self._kind:
            raise InvalidInput(f"not a {self._kind} message", field="channel")
        with self._lock:
            self.attempts.append(message)
            if self._queued_failures:
                raise self._queued_failures.pop(0)
            if message.to in self._address_failures:
                raise self._address_failures[message.to]
            # Unique across fakes, as a provider's ids are (reconciliation relies on it).
            provider_id = f"fake-{self._kind}-{self._prefix}-{len(self.sent) + 1}"
            self.sent.append(FakeSend(message=message, provider_id=provider_id))
            return SendResult(provider_id=provider_id, status=self._status)

    def find_sent(self, message: OutboundMessage, *, since: datetime) -> list[SendResult]:
        """What a provider's message list would show: same recipient, sender and text."""
        wanted = (message.to, message.sender, message.body)
        with self._lock:
            return [
                SendResult(provider_id=s.provider_id, status=self._status)
                for s in self.sent
                if (s.message.to, s.message.sender, s.message.body) == wanted
            ]

    def duplicates(self) -> dict[str, int]:
        """Idempotency keys that were sent (accepted) more than once, with their counts."""
        with self._lock:
            counts = Counter(s.message.idempotency_key for s in self.sent)
        return {key: n for key, n in counts.items() if n > 1}

    def sent_to(self, address: str) -> list[OutboundMessage]:
        with self._lock:
            return [s.message for s in self.sent if s.message.to == address]
