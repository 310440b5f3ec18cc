"""Engines, sessions and migrations for SQLite (embedded default) and PostgreSQL.

The edge (CLI command, request dependency, worker task) owns the transaction: it opens a
session with :func:`session_scope`, services only ``flush``, and the edge commits or rolls
back. The schema is always built by Alembic migrations, never by ``create_all``.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson
from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Engine,
    Enum,
    Select,
    String,
    Table,
    Text,
    any_,
    bindparam,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, make_transient_to_detached, sessionmaker

from careloop.errors import CareloopError, NotFound

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
Row = TypeVar("Row")


class _OfPatient(Protocol):
    patient_id: Any


PatientRow = TypeVar("PatientRow", bound=_OfPatient)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` and plain paths; use the psycopg 3 driver for PostgreSQL."""
    if "://" not in url:
        return f"sqlite:///{url}"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else make_url(engine_or_url)
    return url.get_backend_name() == "sqlite"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _dumps(value: Any) -> str:
    # orjson is several times faster than json for the FHIR payloads we store.
    return orjson.dumps(value).decode()


class DatabaseUnavailable(CareloopError):
    """The database cannot be used: unreachable server, missing folder, unknown kind of URL."""


class SchemaNotCurrent(CareloopError):
    """The database's schema is not the one this code expects (production never migrates
    implicitly: the operator runs ``careloop db upgrade``)."""


SUPPORTED_BACKENDS = ("sqlite", "postgresql")


def check_url(url: str) -> str:
    """The normalised URL, or :class:`DatabaseUnavailable` naming why it cannot be used.

    An SQLite file is created on first use, but only inside a folder that exists: a mistyped
    path fails here instead of quietly starting an empty database somewhere else.
    """
    normalised = normalise_url(url)
    try:
        parsed = make_url(normalised)
    except Exception as exc:
        raise DatabaseUnavailable("database URL cannot be parsed") from exc
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise DatabaseUnavailable(
            f"database URL scheme {backend!r} is not supported (use sqlite:/// or postgresql://)"
        )
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            folder = Path(database).expanduser().parent
            if not folder.is_dir():
                raise DatabaseUnavailable(f"folder {folder} for the SQLite database does not exist")
    return normalised


def describe(url: str | Engine) -> str:
    """The URL without its password, for messages."""
    parsed = url.url if isinstance(url, Engine) else make_url(normalise_url(url))
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str, *, echo: bool = False, pool_size: int = 5) -> Engine:
    """An engine for ``url`` (checked by :func:`check_url`; SQLite files made on first use)."""
    url = check_url(url)
    if is_sqlite(url):
        engine = create_engine(
            url, echo=echo, json_serializer=_dumps, json_deserializer=orjson.loads
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        pool_pre_ping=True,
        max_overflow=pool_size,
        json_serializer=_dumps,
        json_deserializer=orjson.loads,
    )


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error, always close."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(url: str) -> Any:
    """An Alembic config pointing at the packaged migrations, usable from any directory."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


# The advisory-lock key every careloop process agrees on ("careloop" as 8 bytes, signed).
MIGRATION_LOCK_KEY = int.from_bytes(b"careloop", "big", signed=True)


@contextmanager
def _sqlite_file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive ``flock`` on ``<database>.migrate-lock`` (none for in-memory databases)."""
    database = engine.url.database
    if not database or database == ":memory:":
        yield
        return
    import fcntl

    lock_path = Path(f"{database}.migrate-lock").expanduser()
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that holds the migration lock until it ends.

    PostgreSQL: a transaction-scoped advisory lock, so concurrent first starts queue up and
    the later ones find the schema current (DDL is transactional there). SQLite: a file lock
    beside the database file, since SQLite has no advisory locks.
    """
    if is_sqlite(engine):
        with _sqlite_file_lock(engine), engine.begin() as connection:
            yield connection
        return
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        yield connection


def _run(engine: Engine, action: Callable[[Any], None]) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with migration_connection(engine) as connection:
        config.attributes["connection"] = connection
        action(config)


def migrate(engine: Engine, revision: str = "heads") -> None:
    """Bring the schema up to ``revision`` (the newest by default), under the migration lock."""
    from alembic import command

    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Take the schema down to ``revision`` (``base`` removes every table), under the lock."""
    from alembic import command

    _run(engine, lambda config: command.downgrade(config, revision))


def head_revisions() -> tuple[str, ...]:
    """The revisions this code expects the database to be at."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return tuple(sorted(script.get_heads()))


def packaged_heads() -> tuple[str, ...] | None:
    """:func:`head_revisions` read from the migration files' ``revision`` and
    ``down_revision`` assignments, without importing Alembic (0.7 s of a worker's start-up,
    its ``ddl`` and ``autogenerate`` included); equal to it (tested). None, meaning "ask
    Alembic", unless every file says both plainly: one literal string ``revision`` and a
    ``down_revision`` that is None, a string or strings."""
    revisions: set[str] = set()
    replaced: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        if path.name == "__init__.py":
            continue
        found = _revision_of(path)
        if found is None:
            return None
        revision, down = found
        revisions.add(revision)
        replaced.update(down)
    return tuple(sorted(revisions - replaced))


def _revision_of(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """A migration file's revision and the ones it follows, or None when it does not say
    them as plain literals (the caller then asks Alembic)."""
    values: dict[str, list[Any]] = {"revision": [], "down_revision": []}
    try:
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node in body:
            if isinstance(node, ast.Assign):
                targets: list[ast.expr] = list(node.targets)
                value = node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            for target in targets:
                names = target.elts if isinstance(target, ast.Tuple) else [target]
                if any(isinstance(n, ast.Name) and n.id in values for n in names):
                    if not isinstance(target, ast.Name):
                        return None  # e.g. a tuple assignment: not read here
                    values[target.id].append(ast.literal_eval(value))
    except (SyntaxError, ValueError, OSError):
        return None
    revs, downs = values["revision"], values["down_revision"]
    if len(revs) != 1 or len(downs) != 1 or not isinstance(revs[0], str):
        return None
    down = downs[0]
    if down is None:
        return revs[0], ()
    if isinstance(down, str):
        return revs[0], (down,)
    if isinstance(down, tuple | list) and all(isinstance(d, str) for d in down):
        return revs[0], tuple(down)
    return None


def stored_revisions(engine: Engine) -> tuple[str, ...]:
    """:func:`current_revisions` with a plain query (no Alembic import)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return ()
        rows = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        return tuple(sorted(rows))


def current_revisions(engine: Engine) -> tuple[str, ...]:
    """The revisions the database is at (empty for a database never migrated)."""
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        return tuple(sorted(context.get_current_heads()))


@dataclass(frozen=True)
class Revision:
    revision: str
    down_revision: str | None
    title: str
    is_head: bool


def revision_history() -> list[Revision]:
    """Every migration, newest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    heads = set(script.get_heads())
    result = []
    for item in script.walk_revisions():
        down = item.down_revision
        result.append(
            Revision(
                revision=item.revision,
                down_revision=down if isinstance(down, str) or down is None else ",".join(down),
                title=(item.doc or "").strip().splitlines()[0] if item.doc else "",
                is_head=item.revision in heads,
            )
        )
    return result


def copy_then_insert(
    session: Session,
    *,
    table: str,
    rows: list[dict[str, Any]],
    conflict: str,
    json_columns: tuple[str, ...] = (),
) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY ``rows`` into a temporary copy of ``table``, then one INSERT with
    ``conflict`` (its ON CONFLICT ... [RETURNING ...] clause); the rows it returns.

    The server parses the rows in bulk instead of the driver binding every value of a
    multi-row INSERT. The raw cursor bypasses the session: flush what the rows refer to first.

    Rows that are new (no ``conflict`` clause) go straight into ``table`` by one COPY.
    JSON goes as the text the engine writes (the bytes a ``Jsonb`` wrapper would send).
    """
    columns = list(rows[0])
    names = ", ".join(columns)
    staging = f"careloop_copy_{table}" if conflict.strip() else None
    kinds = [(c, c in json_columns) for c in columns]
    cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor:
        if staging:
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} "
                f"(LIKE {table} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
        with cursor.copy(f"COPY {staging or table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([_dumps(row[c]) if json else row[c] for c, json in kinds])
        if not staging:
            return []
        cursor.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM {staging} {conflict}")
        returned = cursor.fetchall() if cursor.description else []
        cursor.execute(f"DELETE FROM {staging}")
    return list(returned)


def next_ids(session: Session, table: Table, count: int) -> list[int]:
    """PostgreSQL: ``count`` ids from ``table``'s sequence in one query, ascending."""
    (key,) = table.primary_key.columns
    query = text("SELECT nextval(pg_get_serial_sequence(:t, :c)) FROM generate_series(1, :n)")
    return sorted(session.scalars(query, {"t": table.name, "c": key.name, "n": count}))


def copy_new_rows(
    session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """PostgreSQL: write new rows of ``table`` (column name to value) by
    :func:`copy_then_insert`, ids as given (all rows) or from the table's sequence in one
    query (:func:`next_ids`), in the rows' order; unset columns take their Python default, or
    NULL. Returns each row as written (its id and defaults filled in, Python values).

    The ORM inserts a batch as a multi-row INSERT ... RETURNING whose SQL text holds a
    placeholder per value (~270 KB for 1,300 enrollments), which the driver parses on every
    statement; COPY sends the values alone.
    """
    if not rows:
        return []
    (key,) = table.primary_key.columns
    given = [row.get(key.name) for row in rows]
    ids = given if None not in given else next_ids(session, table, len(rows))
    dialect = session.get_bind().dialect
    json_columns = tuple(
        c.name for c in table.columns if isinstance(c.type.dialect_impl(dialect), JSON)
    )
    binds = {c.name: c.type.bind_processor(dialect) for c in table.columns}
    written: list[dict[str, Any]] = []
    bound: list[dict[str, Any]] = []
    for row, ident in zip(rows, ids, strict=True):
        values: dict[str, Any] = {}
        for column in table.columns:
            if column is key:
                value: Any = ident
            elif column.name in row or column.default is None:
                value = row.get(column.name)
            else:
                default: Any = column.default
                value = default.arg(None) if default.is_callable else default.arg
            values[column.name] = value
        written.append(values)
        bound.append(
            {
                name: value if binds[name] is None or name in json_columns else binds[name](value)  # type: ignore[misc]
                for name, value in values.items()
            }
        )
    session.flush()  # what the rows refer to
    copy_then_insert(session, table=table.name, rows=bound, conflict="", json_columns=json_columns)
    return written


def copy_new_objects(session: Session, objects: Sequence[Any]) -> None:
    """PostgreSQL: write new ORM objects of one mapped class by :func:`copy_new_rows` (their
    ids kept when all are set) and attach them to ``session`` as if flushed (persistent,
    their ids set, later changes written as UPDATEs)."""
    if not objects:
        return
    mapper = inspect(type(objects[0]))
    names = {c.name: mapper.get_property_by_column(c).key for c in mapper.local_table.columns}
    rows = []
    for obj in objects:
        given = inspect(obj).dict
        rows.append({c: given[a] for c, a in names.items() if a in given})
    written = copy_new_rows(session, mapper.local_table, rows)
    for obj, values in zip(objects, written, strict=True):
        for column, value in values.items():
            setattr(obj, names[column], value)  # every column loaded: no refresh on access
        make_transient_to_detached(obj)
        session.add(obj)


def one_or_missing(session: Session, query: Select[tuple[Row]], missing: str) -> Row:
    """The row ``query`` finds, or :class:`NotFound` saying ``missing`` (as
    :func:`get_or_missing`, for rows found by something other than their primary key)."""
    row = session.scalar(query)
    if row is None:
        raise NotFound(missing)
    return row


def get_or_missing(session: Session, model: type[Row], key: object, missing: str) -> Row:
    """The row of ``model`` with primary key ``key``, or :class:`NotFound` saying ``missing``
    (a message that names the kind of thing, never the key)."""
    row = session.get(model, key)
    if row is None:
        raise NotFound(missing)
    return row


def patient_rows(
    session: Session,
    model: type[PatientRow],
    patient_id: str,
    *order_by: Any,
    where: Sequence[Any] = (),
) -> list[PatientRow]:
    """Every row of ``model`` that belongs to the patient (and meets ``where``), in the order
    given."""
    query = select(model).where(model.patient_id == patient_id, *where)
    return list(session.scalars(query.order_by(*order_by)))


def any_of(session: Session, column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    """``column IN values``. On PostgreSQL one array parameter (``= ANY(:values)``): the
    statement's text no longer changes with the number of values, so the server parses it
    once per connection (the driver prepares it) instead of a list of ~500 placeholders each
    time. SQLite has no arrays: an expanding ``IN``, as before."""
    if session.get_bind().dialect.name == "postgresql":
        item = column.type
        if isinstance(item, String) and not isinstance(item, Enum) and item.length is not None:
            # ``::VARCHAR(64)[]`` is an explicit cast: it would cut a longer value to 64
            # characters and match another row; an ``IN`` compares the whole value.
            item = Text()
        return column == any_(bindparam(None, list(values), type_=ARRAY(item)))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]
