"""Sign-in: one Argon2 verification on every path, back-off instead of lock-out (issue 21, item 4).

Timing is never measured here (``benchmarks/signin_timing.py`` does that); the cost of a
sign-in is one Argon2 verification, so the tests count them with a spy around the real one.
The per-address back-off is held in the database, so it binds every web process alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from careloop.clock import FrozenClock
from careloop.db import make_engine, make_sessionmaker
from careloop.errors import NotAuthenticated
from careloop.governance.retention import purge_expired
from careloop.runtime import Runtime
from careloop.security import auth
from careloop.security.auth import authenticate_password, create_user
from careloop.security.backoff import (
    ACCOUNT_MAX_DELAY,
    FREE_FAILURES,
    SOURCE_FORGET,
    SOURCE_MAX_DELAY,
    backoff_delay,
    source_waiting,
)
from careloop.web.app import create_app

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
    for attempt in range(30):
        # A guesser from many addresses, each attempt after the account's wait is over.
        assert not _try(nurse, "nurse", "guess", source=f"10.0.0.{attempt}")
        clock.advance(ACCOUNT_MAX_DELAY)
    assert not _try(nurse, "nurse", "guess", source="10.0.1.1")
    assert not _try(nurse, "nurse", PASSWORD, source="192.0.2.7")  # waiting
    clock.advance(ACCOUNT_MAX_DELAY + timedelta(seconds=1))
    assert _try(nurse, "nurse", PASSWORD, source="192.0.2.7")


def test_one_source_that_keeps_failing_waits_longer_and_longer(
    nurse: Runtime, clock: FrozenClock
) -> None:
    for attempt in range(FREE_FAILURES + 8):
        _try(nurse, f"user{attempt}", "guess", source="203.0.113.9")
        clock.advance(timedelta(seconds=1))
    with nurse.transaction() as session:
        assert source_waiting(session, "203.0.113.9", now=clock.now())
    clock.advance(ACCOUNT_MAX_DELAY * 2)  # far past any account's wait
    assert not _try(nurse, "nurse", PASSWORD, source="203.0.113.9")
    assert _try(nurse, "nurse", PASSWORD, source="198.51.100.1")


@pytest.fixture
def second_process(nurse: Runtime) -> Iterator[Runtime]:
    """Another web process on the same database: its own engine, connections and memory."""
    engine = make_engine(nurse.settings.database_url)
    yield Runtime(
        settings=nurse.settings,
        clock=nurse.clock,
        engine=engine,
        sessions=make_sessionmaker(engine),
    )
    engine.dispose()


def _sign_in(client: TestClient, username: str, password: str) -> int:
    body = {"username": username, "password": password}
    return int(client.post("/api/auth/token", json=body).status_code)


def test_an_address_waits_in_every_web_process(
    nurse: Runtime, second_process: Runtime, clock: FrozenClock
) -> None:
    """A guesser spreading attempts over two processes waits as if there were one."""
    first = TestClient(create_app(nurse), raise_server_exceptions=False)
    second = TestClient(create_app(second_process), raise_server_exceptions=False)
    for attempt in range(FREE_FAILURES + 3):  # four failures through each process
        client = first if attempt % 2 else second
        assert _sign_in(client, f"nobody{attempt}", "guess") == 401
        clock.advance(timedelta(seconds=1))
    assert _sign_in(first, "nurse", PASSWORD) == 401  # this address is still waiting
    assert _sign_in(second, "nurse", PASSWORD) == 401
    clock.advance(SOURCE_MAX_DELAY)
    assert _sign_in(first, "nurse", PASSWORD) == 200


def test_an_address_is_forgotten_a_day_after_its_last_failure(
    nurse: Runtime, clock: FrozenClock
) -> None:
    for attempt in range(FREE_FAILURES + 3):
        _try(nurse, f"user{attempt}", "guess", source="203.0.113.10")
    clock.advance(SOURCE_FORGET + timedelta(seconds=1))
    # The counter starts again: one more failure is a free one, no wait.
    assert not _try(nurse, "nobody", "guess", source="203.0.113.10")
    assert _try(nurse, "nurse", PASSWORD, source="203.0.113.10")
    for attempt in range(3):
        _try(nurse, f"user{attempt}", "guess", source="203.0.113.11")
    clock.advance(SOURCE_FORGET + timedelta(seconds=1))
    with nurse.transaction() as session:
        report = purge_expired(
            session, settings=nurse.settings.retention, now=clock.now(), key=None
        )
    purged = {row["target"]: row["deleted"] for row in report}
    assert purged["signin-sources"] == 1


@given(st.integers(min_value=0, max_value=10_000))
def test_delays_grow_and_stay_capped(failures: int) -> None:
    for cap in (ACCOUNT_MAX_DELAY, SOURCE_MAX_DELAY):
        delay = backoff_delay(failures, cap=cap)
        assert timedelta(0) <= delay <= cap
        assert backoff_delay(failures + 1, cap=cap) >= delay
    assert (backoff_delay(failures, cap=SOURCE_MAX_DELAY) > timedelta(0)) == (
        failures >= FREE_FAILURES
    )
