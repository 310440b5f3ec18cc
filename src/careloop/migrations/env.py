"""Alembic environment: runs on a connection handed in by :func:`careloop.db.migrate`, or,
from plain ``alembic`` with the repository's ``alembic.ini``, on the configured database
under the same migration lock (``-x database=URL`` or ``CARELOOP_DATABASE_URL``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from careloop.db import make_engine, migration_connection
from careloop.migrations.names import include_name
from careloop.models import Base

config = context.config
target_metadata = Base.metadata


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _configured_url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("database")
    if url:
        return url
    configured = config.get_main_option("sqlalchemy.url")
    if configured:
        return configured
    from careloop.settings import get_settings

    return get_settings().resolved_database_url


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(_configured_url())
    try:
        with migration_connection(engine) as conn:
            _run_on(conn)
    finally:
        engine.dispose()


run_migrations()
