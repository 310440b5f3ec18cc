"""Test fixtures shared by the whole suite.

Database tests run twice: on SQLite and on the real PostgreSQL at 127.0.0.1:5432. Each test
session gets its own PostgreSQL database, built by the Alembic migrations. With ``CI=true``
an unreachable PostgreSQL fails the run instead of skipping.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine, text

from careloop.clock import FrozenClock
from careloop.db import make_engine, make_sessionmaker, migrate
from careloop.models import Base
from careloop.runtime import Runtime
from careloop.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
FIXTURES = Path(__file__).parent / "fixtures"
PG_ADMIN_URL = os.environ.get("CARELOOP_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
START = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)

# Timing never decides a test: no per-example deadline and no "too slow" health check, which
# fail property tests on a loaded 2-core machine for reasons that are not the code's.
settings.register_profile("careloop", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("careloop")


def _pg_reachable() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped afterwards)."""
    if not _pg_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is unreachable and CI=true")
        pytest.skip("PostgreSQL unreachable")
    name = f"careloop_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_postgresql_url() -> Iterator[str]:
    """A PostgreSQL database of its own, never migrated (for schema and start-up tests)."""
    if not _pg_reachable():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is unreachable and CI=true")
        pytest.skip("PostgreSQL unreachable")
    name = f"careloop_empty_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def careloop_cli() -> Path:
    """The installed ``careloop`` script, for tests that need real separate processes."""
    return Path(sys.executable).parent / "careloop"


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'careloop.db'}"


_engines: dict[str, Engine] = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The URL of a migrated, empty database; the test runs once per backend."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    engine = _engines.get(url)
    if engine is None:
        engine = make_engine(url)
        migrate(engine)
        _engines[url] = engine
    _truncate(engine)
    return url


def _truncate(engine: Engine) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def rt(database_url: str, clock: FrozenClock) -> Runtime:
    """A runtime on an empty database of each backend, with a frozen clock."""
    engine = _engines[database_url]
    return Runtime(
        settings=Settings(database_url=database_url),
        clock=clock,
        engine=engine,
        sessions=make_sessionmaker(engine),
    )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    for engine in _engines.values():
        engine.dispose()


@pytest.fixture
def api_client(rt: Runtime):  # type: ignore[no-untyped-def]
    """``api_client(role, patient_id=None)``: a TestClient signed in as a new user of that role."""
    from fastapi.testclient import TestClient

    from careloop.security.auth import create_user, issue_token
    from careloop.web.app import create_app

    app = create_app(rt)
    counter = iter(range(1, 10_000))

    def make(role: str | None, *, patient_id: str | None = None, scopes: list[str] | None = None):  # type: ignore[no-untyped-def]
        client = TestClient(app, raise_server_exceptions=False)
        if role is None:
            return client
        with rt.transaction() as session:
            user = create_user(
                session,
                clock=rt.clock,
                username=f"{role}-{next(counter)}",
                password="correct horse battery staple",
                role=role,
                patient_id=patient_id,
            )
            token = issue_token(session, clock=rt.clock, user=user, scopes=scopes).token
        client.headers["Authorization"] = f"Bearer {token}"
        return client

    return make
