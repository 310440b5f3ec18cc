"""What an edge (CLI command, web app, worker) needs to run: settings, clock, database.

Built once per process by :func:`open_runtime`; nothing here happens at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from careloop.clock import Clock, SystemClock
from careloop.db import make_engine, make_sessionmaker, migrate, session_scope
from careloop.settings import Settings, get_settings


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    engine: Engine
    sessions: sessionmaker[Session] = field(repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work owned by the caller (the edge)."""
        with session_scope(self.sessions) as session:
            yield session

    def close(self) -> None:
        self.engine.dispose()


def open_runtime(
    *,
    database: str | None = None,
    settings: Settings | None = None,
    clock: Clock | None = None,
    run_migrations: bool = True,
) -> Runtime:
    """Connect to ``database`` (or the configured one) and bring its schema up to date."""
    settings = settings or get_settings()
    url = database or settings.resolved_database_url
    engine = make_engine(url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    if run_migrations:
        migrate(engine)
    return Runtime(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=make_sessionmaker(engine),
    )
