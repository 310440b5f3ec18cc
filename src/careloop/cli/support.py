"""Shared pieces of the ``careloop`` CLI: the --database option, JSON output, errors.

Commands are thin: they parse options, open a runtime, call a service, print the result.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from itertools import takewhile
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from careloop.errors import CareloopError
from careloop.runtime import Runtime, open_runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

Row = TypeVar("Row")
stderr = Console(stderr=True)


def command_group(help: str) -> typer.Typer:
    """A group of sub-commands (``careloop devices ...``): called bare, it prints its help."""
    return typer.Typer(help=help, no_args_is_help=True)


JSON_ERRORS = "careloop.json_errors"
"""``click.Context.meta`` key: the running command was given ``--json``, so an ``Ambiguous``
error is also written to stdout as ``{"error", "field", "candidates"}`` (``errors.error_body``)."""


def fail(message: str, *, code: int = 2) -> NoReturn:
    """Stop the command with a one-line error and no traceback."""
    stderr.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def new_table(title: str | None, *columns: str, right: tuple[str, ...] = ()) -> Table:
    """A table with these columns, the ones named in ``right`` right-aligned (counts)."""
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left")
    return table


def cli_principal(role: Role = Role.ADMIN, *, name: str | None = None) -> Principal:
    """The operator at the terminal, named by ``name`` (``--by``) or the login name."""
    if name is None:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "unknown"
    return Principal(actor=f"cli:{name}", role=role, source="cli")


def json_text(value: Any) -> str:
    """``value`` as the CLI prints JSON: indented, one trailing newline."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode() + "\n"


def print_json(value: Any) -> None:
    sys.stdout.write(json_text(value))


def print_rows(
    rows: Sequence[Row], *, as_json: bool, line: Callable[[Row], str], empty: str | None = None
) -> None:
    """A list command's two outputs: JSON for machines, or one line a row for people (and
    ``empty``, if given, when there is none)."""
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(line(row))
    if not rows and empty is not None:
        typer.echo(empty)


def settings_problem(exc: ValidationError) -> str:
    """One line naming each bad setting by its environment variable, without its value (a
    value may be a secret): ``serve`` and ``worker`` refuse to start on it."""
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        path = [str(part) for part in error["loc"]]
        # A list (``senders``) is one variable holding JSON: name it, not a field of an item.
        variable = list(takewhile(lambda part: not part.isdigit(), path))
        env = "CARELOOP_" + "__".join(p.upper() for p in variable)
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{'.'.join(path)} ({env}): {message}")
    return "invalid setting " + "; ".join(problems)


@contextmanager
def runtime(database: str | None) -> Iterator[Runtime]:
    """Open the runtime for one command and close it after; database errors become CLI errors."""
    from sqlalchemy.exc import OperationalError

    try:
        rt = open_runtime(database=database)
    except ValidationError as exc:
        fail(settings_problem(exc))
    except OperationalError as exc:
        fail(f"cannot open the database: {exc.orig.__class__.__name__}")
    except Exception as exc:
        if isinstance(exc, CareloopError | typer.Exit):
            raise
        fail(f"cannot open the database: {exc.__class__.__name__}: {exc}")
    try:
        yield rt
    finally:
        rt.close()


def emit(value: Any, *, as_json: bool, text: str) -> None:
    """A command's two outputs: ``value`` as JSON for machines, or ``text`` for people."""
    if as_json:
        print_json(value)
    else:
        typer.echo(text)


def print_figures(figures: Mapping[str, object], *, as_json: bool) -> None:
    """Named figures: JSON for machines, or one ``name: value`` line each for people."""
    if as_json:
        print_json(figures)
        return
    for name, value in figures.items():
        typer.echo(f"{name}: {value}")


def counts_line(counts: Mapping[str, object]) -> str:
    """``a 1, b 2``: counts by name, in name order."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items()))
