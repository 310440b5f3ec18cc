"""Exponential back-off after failed sign-ins, per account and per source address.

A hard lock-out after five failures let anyone who knew a username lock its owner out.
Instead, after ``FREE_FAILURES`` failures each further one doubles the wait before the next
attempt is even checked: capped at a minute per account (the real user waits at most that)
and at fifteen minutes per source (a guesser from one address soon waits much longer).
Attempts made while waiting are refused with the same answer and are not counted.

Both waits live in the database (``users.locked_until``, ``signin_sources``), so every web
process behind a load balancer holds an address to the same wait and a restart forgets
nothing: kept in one process's memory, N processes gave a guesser N times the attempts. A
source's failures are forgotten ``SOURCE_FORGET`` after its last one (and its row purged by
the ``signin-sources`` retention target).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Table, case, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.models import SigninSource

FREE_FAILURES = 5
BASE_DELAY = timedelta(seconds=1)
ACCOUNT_MAX_DELAY = timedelta(minutes=1)
SOURCE_MAX_DELAY = timedelta(minutes=15)
SOURCE_FORGET = timedelta(days=1)
_SOURCE_LENGTH = 64  # an IPv6 address with a zone fits; longer values are cut, not refused


def backoff_delay(failures: int, *, cap: timedelta) -> timedelta:
    """No wait for the first ``FREE_FAILURES`` failures, then 1 s, 2 s, 4 s ... up to ``cap``."""
    if failures < FREE_FAILURES:
        return timedelta(0)
    exponent = min(failures - FREE_FAILURES, 30)
    delay: timedelta = BASE_DELAY * (1 << exponent)
    return min(delay, cap)


def source_waiting(session: Session, source: str, *, now: datetime) -> bool:
    """True while ``source`` must wait before its next sign-in attempt is checked."""
    wait_until = session.scalar(
        select(SigninSource.wait_until).where(SigninSource.source == source[:_SOURCE_LENGTH])
    )
    return wait_until is not None and wait_until > now


def source_failed(session: Session, source: str, *, now: datetime) -> None:
    """Count one failure for ``source`` and set its wait, atomically across processes.

    One upsert increments the counter (restarting it when the last failure is older than
    ``SOURCE_FORGET``) and returns it; its row lock holds concurrent failures from other
    processes until this transaction ends, so none is lost.
    """
    key = source[:_SOURCE_LENGTH]
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    table: Table = SigninSource.__table__  # type: ignore[assignment]
    stmt = insert(table).values(source=key, failures=1, wait_until=now, last_failure_at=now)
    stale = table.c.last_failure_at < now - SOURCE_FORGET
    upsert = stmt.on_conflict_do_update(
        index_elements=["source"],
        set_={
            "failures": case((stale, 1), else_=table.c.failures + 1),
            "last_failure_at": now,
        },
    ).returning(table.c.failures)
    failures = int(session.execute(upsert).scalar_one())
    wait_until = now + backoff_delay(failures, cap=SOURCE_MAX_DELAY)
    session.execute(
        update(SigninSource).where(SigninSource.source == key).values(wait_until=wait_until)
    )


def source_succeeded(session: Session, source: str) -> None:
    """A correct sign-in from ``source`` clears its failures."""
    session.execute(delete(SigninSource).where(SigninSource.source == source[:_SOURCE_LENGTH]))
