"""``careloop db upgrade|downgrade|current|history``: the schema, under the migration lock.

The one place an operator migrates in production (where other commands only check the
schema version). Every step holds the PostgreSQL advisory lock (a file lock on SQLite), so
any number of simultaneous upgrades end with one schema and all exit 0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import fail, print_json
from careloop.db import (
    current_revisions,
    describe,
    downgrade,
    head_revisions,
    make_engine,
    migrate,
    revision_history,
)
from careloop.runtime import first_line
from careloop.settings import get_settings

db_app = typer.Typer(help="The database schema: upgrade, downgrade, current, history.")

T = TypeVar("T")


@contextmanager
def _engine(database: str | None) -> Iterator[Engine]:
    engine = make_engine(database or get_settings().resolved_database_url)
    try:
        yield engine
    except OperationalError as exc:
        fail(f"cannot reach the database {describe(engine)}: {first_line(exc.orig)}")
    finally:
        engine.dispose()


def _state(engine: Engine) -> dict[str, object]:
    current, heads = current_revisions(engine), head_revisions()
    return {
        "database": describe(engine),
        "current": list(current),
        "heads": list(heads),
        "up_to_date": current == heads,
    }


def _print_state(state: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(state)
        return
    current = ", ".join(state["current"]) or "empty"  # type: ignore[arg-type]
    suffix = " (head)" if state["up_to_date"] else " (behind: run `careloop db upgrade`)"
    Console(soft_wrap=True).print(f"{state['database']}: {current}{suffix}", highlight=False)


def _with(database: str | None, action: Callable[[Engine], T]) -> dict[str, object]:
    with _engine(database) as engine:
        action(engine)
        return _state(engine)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the newest).")
    ] = "head",
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Bring the schema up to REVISION (the newest by default)."""
    _print_state(_with(database, lambda e: migrate(e, _known(revision))), as_json)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision: an id, -1 for one step, base for none.")
    ],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Take the schema down to REVISION (``base`` drops every careloop table)."""
    _print_state(_with(database, lambda e: downgrade(e, _known(revision))), as_json)


@db_app.command("current")
def db_current(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """The revision the database is at, and whether it is the newest."""
    with _engine(database) as engine:
        state = _state(engine)
    _print_state(state, as_json)


@db_app.command("history")
def db_history(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Every migration, newest first (the database's current one marked when given)."""
    current: tuple[str, ...] = ()
    if database is not None:
        with _engine(database) as engine:
            current = current_revisions(engine)
    rows = [
        {
            "revision": r.revision,
            "down_revision": r.down_revision,
            "title": r.title,
            "head": r.is_head,
            "current": r.revision in current,
        }
        for r in revision_history()
    ]
    if as_json:
        print_json(rows)
        return
    console = Console(soft_wrap=True)
    for row in rows:
        marks = " ".join(
            m for m, on in (("(head)", row["head"]), ("(current)", row["current"])) if on
        )
        console.print(
            f"{row['down_revision'] or 'base'} -> {row['revision']}  {row['title']} "
            f"{marks}".rstrip(),
            highlight=False,
        )


def _known(revision: str) -> str:
    """Refuse a revision that is neither an id, head/heads/base nor a relative step."""
    relative = revision[:1] in "+-" and revision[1:].isdigit()
    if revision in ("head", "heads", "base") or relative:
        return revision
    if revision not in {r.revision for r in revision_history()}:
        fail(f"revision: no migration {revision!r} (see `careloop db history`)")
    return revision


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
