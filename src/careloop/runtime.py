"""What an edge (CLI command, web app, worker) needs to run: settings, clock, database.

Built once per process by :func:`open_runtime`; nothing here happens at import time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from careloop.clock import Clock, SystemClock
from careloop.db import (
    DatabaseUnavailable,
    SchemaNotCurrent,
    current_revisions,
    describe,
    head_revisions,
    make_engine,
    make_sessionmaker,
    migrate,
    session_scope,
)
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
    run_migrations: bool | None = None,
) -> Runtime:
    """Connect to ``database`` (or the configured one) and check or migrate its schema.

    Development migrates on start; production (``CARELOOP_ENVIRONMENT=production``) only
    checks and raises :class:`SchemaNotCurrent` saying which command to run. Either way an
    unreachable server is one :class:`DatabaseUnavailable`, not a driver traceback.
    """
    settings = settings or get_settings()
    url = database or settings.resolved_database_url
    engine = make_engine(url, echo=settings.database.echo, pool_size=settings.database.pool_size)
    try:
        if run_migrations if run_migrations is not None else settings.auto_migrate:
            migrate(engine)
        else:
            ensure_schema_current(engine)
    except OperationalError as exc:
        engine.dispose()
        raise DatabaseUnavailable(
            f"cannot reach the database {describe(engine)}: {first_line(exc.orig)}"
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return Runtime(
        settings=settings,
        clock=clock or SystemClock(),
        engine=engine,
        sessions=make_sessionmaker(engine),
    )


def first_line(error: object) -> str:
    """The driver's message, first line only (PostgreSQL adds hints over several lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else error.__class__.__name__


def ensure_schema_current(engine: Engine) -> None:
    """Raise :class:`SchemaNotCurrent` naming the command to run when the schema lags."""
    current, heads = current_revisions(engine), head_revisions()
    if current != heads:
        at = ", ".join(current) or "empty"
        raise SchemaNotCurrent(
            f"database schema is at {at}, this version needs {', '.join(heads)}: run "
            f"`careloop db upgrade --database {describe(engine)}` first"
        )
