"""An in-memory channel for tests, the demo and the simulator: records, and fails on demand.

It speaks the same :class:`~careloop.channels.interface.Channel` interface as the real
adapters. Every call is kept in ``attempts`` (so a test can count duplicate sends by
idempotency key); accepted ones in ``sent``. Tell it to fail with :meth:`fail_next` (the next
N sends) or :meth:`fail_for` (every send to one address), transiently or permanently.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

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
        dedupe: bool = False,
        status: DeliveryStatus = DeliveryStatus.QUEUED,
    ) -> None:
        """``dedupe=True`` behaves like a provider that honours idempotency keys (a repeated
        key returns the first provider id and is not sent again)."""
        self._kind = kind
        self._rate_limit = rate_limit
        self._dedupe = dedupe
        self._status = status
        self._lock = threading.Lock()
        self._queued_failures: list[ChannelError] = []
        self._address_failures: dict[str, ChannelError] = {}
        self._ids_by_key: dict[str, str] = {}
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
            if self._dedupe and message.idempotency_key in self._ids_by_key:
                return SendResult(
                    provider_id=self._ids_by_key[message.idempotency_key], status=self._status
                )
            provider_id = f"fake-{self._kind}-{len(self.sent) + 1}"
            self._ids_by_key.setdefault(message.idempotency_key, provider_id)
            self.sent.append(FakeSend(message=message, provider_id=provider_id))
            return SendResult(provider_id=provider_id, status=self._status)

    def duplicates(self) -> dict[str, int]:
        """Idempotency keys that were sent (accepted) more than once, with their counts."""
        with self._lock:
            counts = Counter(s.message.idempotency_key for s in self.sent)
        return {key: n for key, n in counts.items() if n > 1}

    def sent_to(self, address: str) -> list[OutboundMessage]:
        with self._lock:
            return [s.message for s in self.sent if s.message.to == address]
