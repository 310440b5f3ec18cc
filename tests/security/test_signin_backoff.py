"""Sign-in: one Argon2 verification on every path, back-off instead of lock-out (issue 21, item 4).

Timing is never measured here (``benchmarks/signin_timing.py`` does that); the cost of a
sign-in is one Argon2 verification, so the tests count them with a spy around the real one.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from careloop.clock import FrozenClock
from careloop.errors import NotAuthenticated
from careloop.runtime import Runtime
from careloop.security import auth
from careloop.security.auth import authenticate_password, create_user
from careloop.security.backoff import (
    ACCOUNT_MAX_DELAY,
    FREE_FAILURES,
    SOURCE_MAX_DELAY,
    SourceBackoff,
    backoff_delay,
)

PASSWORD = "correct horse battery staple"


@pytest.fixture
def nurse(rt: Runtime) -> Runtime:
    with rt.transaction() as session:
        create_user(session, clock=rt.clock, username="nurse", password=PASSWORD, role="clinician")
        gone = create_user(
            session, clock=rt.clock, username="gone", password=PASSWORD, role="clinician"
        )
        gone.active = False
    return rt


def _try(rt: Runtime, username: str, password: str, **kw: Any) -> bool:
    with rt.transaction() as session:
        try:
            authenticate_password(
                session, clock=rt.clock, username=username, password=password, **kw
            )
        except NotAuthenticated:
            return False
    return True


def test_every_path_costs_exactly_one_argon2_verification(
    nurse: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = auth.verify_password

    def spy(password_hash: str, password: str) -> bool:
        calls.append(password_hash[:9])
        return real(password_hash, password)

    monkeypatch.setattr(auth, "verify_password", spy)
    attempts = [
        ("nobody", PASSWORD),  # unknown user
        ("gone", PASSWORD),  # inactive account
        ("nurse", PASSWORD),  # right
    ] + [("nurse", "wrong password")] * (FREE_FAILURES + 1)  # wrong, then backing off
    for username, password in attempts:
        calls.clear()
        _try(nurse, username, password)
        assert len(calls) == 1, username
        assert calls[0].startswith("$argon2id")


def test_back_off_never_locks_the_real_user_out_for_long(
    nurse: Runtime, clock: FrozenClock
) -> None:
    sources = SourceBackoff()
    for attempt in range(30):
        # A guesser from many addresses, each attempt after the account's wait is over.
        assert not _try(nurse, "nurse", "guess", source=f"10.0.0.{attempt}", sources=sources)
        clock.advance(ACCOUNT_MAX_DELAY)
    assert not _try(nurse, "nurse", "guess", source="10.0.1.1", sources=sources)
    assert not _try(nurse, "nurse", PASSWORD, source="192.0.2.7", sources=sources)  # waiting
    clock.advance(ACCOUNT_MAX_DELAY + timedelta(seconds=1))
    assert _try(nurse, "nurse", PASSWORD, source="192.0.2.7", sources=sources)


def test_one_source_that_keeps_failing_waits_longer_and_longer(
    nurse: Runtime, clock: FrozenClock
) -> None:
    sources = SourceBackoff()
    for attempt in range(FREE_FAILURES + 8):
        _try(nurse, f"user{attempt}", "guess", source="203.0.113.9", sources=sources)
        clock.advance(timedelta(seconds=1))
    assert sources.waiting("203.0.113.9", now=clock.now())
    clock.advance(ACCOUNT_MAX_DELAY * 2)  # far past any account's wait
    assert not _try(nurse, "nurse", PASSWORD, source="203.0.113.9", sources=sources)
    assert _try(nurse, "nurse", PASSWORD, source="198.51.100.1", sources=sources)


@given(st.integers(min_value=0, max_value=10_000))
def test_delays_grow_and_stay_capped(failures: int) -> None:
    for cap in (ACCOUNT_MAX_DELAY, SOURCE_MAX_DELAY):
        delay = backoff_delay(failures, cap=cap)
        assert timedelta(0) <= delay <= cap
        assert backoff_delay(failures + 1, cap=cap) >= delay
    assert (backoff_delay(failures, cap=SOURCE_MAX_DELAY) > timedelta(0)) == (
        failures >= FREE_FAILURES
    )
