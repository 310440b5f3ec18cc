"""Token-bucket rate limits for sign-in, one-time codes and webhooks.

In-process and in memory: each API process keeps its own buckets, so with N processes the
effective limit is N times the configured one (documented in docs/security.md). Buckets
are keyed by (limit name, caller key), e.g. the client address or a contact digest, and
time comes from the injected clock so tests and the simulator can move it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime

from careloop.errors import CareloopError


class RateLimited(CareloopError):
    """Too many requests; ``retry_after`` seconds until the next one is allowed."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limit:
    """``capacity`` requests at once, refilled at ``per_second``."""

    capacity: float
    per_second: float


class RateLimiter:
    """Buckets of tokens; one token per request. Thread-safe; bounded memory."""

    def __init__(self, limits: dict[str, Limit], *, max_keys: int = 100_000) -> None:
        self._limits = dict(limits)
        self._buckets: dict[tuple[str, str], tuple[float, datetime]] = {}
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def set_limit(self, name: str, limit: Limit) -> None:
        self._limits[name] = limit

    def take(self, name: str, key: str, *, now: datetime, cost: float = 1.0) -> None:
        """Spend ``cost`` tokens or raise :class:`RateLimited`."""
        limit = self._limits[name]
        with self._lock:
            tokens, last = self._buckets.get((name, key), (limit.capacity, now))
            elapsed = max(0.0, (now - last).total_seconds())
            tokens = min(limit.capacity, tokens + elapsed * limit.per_second)
            if tokens < cost:
                wait = (cost - tokens) / limit.per_second if limit.per_second > 0 else 3600
                self._buckets[(name, key)] = (tokens, now)
                raise RateLimited("too many requests, try again later", retry_after=int(wait) + 1)
            if len(self._buckets) >= self._max_keys:
                self._buckets.clear()  # crude but bounded: a flood cannot exhaust memory
            self._buckets[(name, key)] = (tokens - cost, now)


def default_limits(*, signin_per_minute: int, webhook_per_second: int) -> dict[str, Limit]:
    return {
        "signin": Limit(capacity=signin_per_minute, per_second=signin_per_minute / 60),
        "portal-code": Limit(capacity=3, per_second=3 / 900),  # 3 codes / 15 min per contact
        "unsubscribe": Limit(capacity=30, per_second=0.5),
        "webhook": Limit(capacity=webhook_per_second * 2, per_second=webhook_per_second),
    }
