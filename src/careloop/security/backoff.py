"""Exponential back-off after failed sign-ins, per account and per source address.

A hard lock-out after five failures let anyone who knew a username lock its owner out.
Instead, after ``FREE_FAILURES`` failures each further one doubles the wait before the next
attempt is even checked: capped at a minute per account (the real user waits at most that)
and at fifteen minutes per source (a guesser from one address soon waits much longer).
Attempts made while waiting are refused with the same answer and are not counted.

The account's wait lives in ``users.locked_until`` (shared by every process); the source's
in memory, per process, like :mod:`careloop.security.rate_limit`.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

FREE_FAILURES = 5
BASE_DELAY = timedelta(seconds=1)
ACCOUNT_MAX_DELAY = timedelta(minutes=1)
SOURCE_MAX_DELAY = timedelta(minutes=15)


def backoff_delay(failures: int, *, cap: timedelta) -> timedelta:
    """No wait for the first ``FREE_FAILURES`` failures, then 1 s, 2 s, 4 s ... up to ``cap``."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - FREE_FAILURES, 30)
    delay: timedelta = BASE_DELAY * (1 << exponent)
    return min(delay, cap)


class SourceBackoff:
    """Failures and the earliest next attempt per source address. Thread-safe, bounded."""

    def __init__(self, *, max_sources: int = 100_000) -> None:
        self._state: dict[str, tuple[int, datetime]] = {}
        self._lock = threading.Lock()
        self._max_sources = max_sources

    def waiting(self, source: str, *, now: datetime) -> bool:
        with self._lock:
            state = self._state.get(source)
        return state is not None and state[1] > now

    def failed(self, source: str, *, now: datetime) -> None:
        with self._lock:
            failures = self._state.get(source, (0, now))[0] + 1
            if len(self._state) >= self._max_sources:
                self._state.clear()  # bounded: a flood of addresses cannot exhaust memory
            self._state[source] = (failures, now + backoff_delay(failures, cap=SOURCE_MAX_DELAY))

    def succeeded(self, source: str) -> None:
        with self._lock:
            self._state.pop(source, None)
