"""The one shape of a ``careloop`` command that works in the database.

A command states only what is its own: its arguments, the service it calls and what it shows.
``@in_transaction()`` gives it ``--database`` (and ``--json``), opens the runtime and one
transaction around it (the edge owns the transaction), and prints what it returns only after
the commit, so nothing is reported done that was rolled back::

    @rewards_app.command("list")
    @in_transaction()
    def list_cmd(work: Work, patient: PatientOption) -> Output:
        rows = rewards_of(work.session, patient_id=patient)
        work.audit(AuditAction.READ, "reward_entry", Purpose.OPERATIONS, patient_ids=[patient])
        return Listed(rows, line=...)
"""

from __future__ import annotations

import functools
import inspect
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, get_type_hints

import click
import typer
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Auditor, Purpose
from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import (
    JSON_ERRORS,
    cli_principal,
    counts_line,
    emit,
    print_figures,
    print_json,
    print_rows,
    runtime,
)
from careloop.runtime import Runtime
from careloop.security.principal import Principal

P = ParamSpec("P")
Row = TypeVar("Row")


@dataclass(frozen=True)
class Work:
    """One command's runtime and its open transaction."""

    rt: Runtime
    session: Session

    def now(self) -> datetime:
        return self.rt.clock.now()

    def audit(
        self,
        action: AuditAction,
        resource: str,
        purpose: Purpose,
        *,
        patient_ids: Iterable[str | None] = (None,),
        detail: dict[str, Any] | None = None,
        principal: Principal | None = None,
    ) -> None:
        """Audit what the operator (an admin, unless ``principal``) read or changed."""
        auditor = Auditor(self.session, self.rt.clock, principal or cli_principal(), purpose)
        auditor(action, resource, patient_ids, detail=detail)


@contextmanager
def open_work(database: str | None) -> Iterator[Work]:
    """The runtime and one transaction, for a command that cannot take ``@in_transaction``
    (it asks a question first, or prints as it goes)."""
    with runtime(database) as rt, rt.transaction() as session:
        yield Work(rt, session)


class Output(Protocol):
    """What a command returns: shown after the commit, as JSON with ``--json``."""

    def show(self, *, as_json: bool) -> None: ...


@dataclass(frozen=True)
class Shown:
    """A value for machines and one text for people."""

    value: Any
    text: str

    def show(self, *, as_json: bool) -> None:
        emit(self.value, as_json=as_json, text=self.text)


@dataclass(frozen=True)
class Listed(Generic[Row]):
    """Rows: a JSON list, or one ``line`` a row (``empty`` when there is none)."""

    rows: Sequence[Row]
    line: Callable[[Row], str]
    empty: str | None = None

    def show(self, *, as_json: bool) -> None:
        print_rows(self.rows, as_json=as_json, line=self.line, empty=self.empty)


@dataclass(frozen=True)
class Figures:
    """Named figures: a JSON object, or one ``name: value`` line each."""

    figures: Mapping[str, object]

    def show(self, *, as_json: bool) -> None:
        print_figures(self.figures, as_json=as_json)


def recent_figures(work: Work, days: int, figures: Callable[..., Mapping[str, object]]) -> Figures:
    """``figures(session, since=, until=)`` over the last ``days`` days."""
    until = work.now()
    return Figures(figures(work.session, since=until - timedelta(days=days), until=until))


@dataclass(frozen=True)
class Tally:
    """What a batch command did, by outcome: sorted JSON, or one line (``empty`` if nothing)."""

    counts: Mapping[str, object]
    empty: str

    def show(self, *, as_json: bool) -> None:
        text = counts_line(self.counts) or self.empty
        emit(dict(sorted(self.counts.items())), as_json=as_json, text=text)


@dataclass(frozen=True)
class Drawn:
    """A value for machines; for people, whatever ``draw`` prints (a table, several lines)."""

    value: Any
    draw: Callable[[], None]

    def show(self, *, as_json: bool) -> None:
        if as_json:
            print_json(self.value)
        else:
            self.draw()


@dataclass(frozen=True)
class Document:
    """A JSON document (an export, a FHIR resource): JSON whatever ``--json`` says."""

    value: Any

    def show(self, *, as_json: bool) -> None:
        print_json(self.value)


@dataclass(frozen=True)
class Written:
    """``text`` on stdout, or written whole to ``output``: beside it first, then renamed, so
    no reader (the broker reading its ACL, a person opening an export) sees half a file."""

    text: str
    output: Path | None

    def show(self, *, as_json: bool) -> None:
        if self.output is None:
            typer.echo(self.text, nl=False)
            return
        try:  # the path as given: /dev/stdout or /dev/fd/63 name an anonymous pipe through
            # /proc, whose link text ("pipe:[...]") is no path that resolve() could follow
            found = os.stat(self.output)
            mode: int | None = stat.S_IMODE(found.st_mode)
            regular = stat.S_ISREG(found.st_mode)
        except FileNotFoundError:
            mode, regular = None, True
        if not regular:  # a pipe or a device (/dev/stdout, >(gpg -e ...)): written, not replaced
            with self.output.open("w", encoding="utf-8") as out:
                out.write(self.text)
            typer.echo(f"wrote {self.output}", err=True)
            return
        target = self.output.resolve()  # through a symlink: the file it names is replaced
        partial = target.with_name(target.name + ".new")
        # Never wider than the file it replaces (an export made private stays private).
        first_mode = 0o600 if mode is not None else 0o666
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, first_mode)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(self.text)
            if mode is not None:
                os.chmod(partial, mode)
            os.replace(partial, target)
        except BaseException:
            partial.unlink(missing_ok=True)  # no half-written copy of the document left behind
            raise
        typer.echo(f"wrote {self.output}", err=True)


def _show(result: Output | str | None, as_json: bool) -> None:
    if isinstance(result, str):
        typer.echo(result)
    elif result is not None:
        result.show(as_json=as_json)


def _option(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _typer_command(
    command: Callable[..., Output | str | None],
    run: Callable[[dict[str, Any]], Output | str | None],
    *,
    skip: int,
    options: list[inspect.Parameter],
) -> Callable[..., None]:
    """A Typer callback that calls ``run`` with the command's own arguments and shows what it
    returns; Typer reads its signature, so it shows the command's parameters (the first
    ``skip`` left out) followed by ``options``."""
    hints = get_type_hints(command, include_extras=True)
    own = list(inspect.signature(command).parameters.values())[skip:]
    params = [p.replace(annotation=hints[p.name]) for p in own] + options

    @functools.wraps(command)
    def callback(**kwargs: Any) -> None:
        as_json = bool(kwargs.pop("as_json", False))
        click.get_current_context().meta[JSON_ERRORS] = as_json
        _show(run(kwargs), as_json)

    del callback.__wrapped__  # Typer must read the signature below, not the command's
    callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    callback.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return callback


def _json_option(json: bool) -> list[inspect.Parameter]:
    return [_option("as_json", JsonOption, False)] if json else []


def in_transaction(
    *, json: bool = True
) -> Callable[[Callable[Concatenate[Work, P], Output | str | None]], Callable[..., None]]:
    """Make ``command(work, ...)`` a Typer command with ``--database`` (and ``--json`` unless
    ``json=False``): it runs inside one transaction and its result is shown after the commit.
    """

    def decorate(
        command: Callable[Concatenate[Work, P], Output | str | None],
    ) -> Callable[..., None]:
        def run(kwargs: dict[str, Any]) -> Output | str | None:
            with open_work(kwargs.pop("database")) as work:
                return command(work, **kwargs)  # type: ignore[call-arg]

        database = [_option("database", DatabaseOption, None)]
        return _typer_command(command, run, skip=1, options=database + _json_option(json))

    return decorate


def showing(
    *, json: bool = True
) -> Callable[[Callable[P, Output | str | None]], Callable[..., None]]:
    """Make ``command(...)``, which needs no database, a Typer command with ``--json`` (unless
    ``json=False``) whose result is shown the same way."""

    def decorate(command: Callable[P, Output | str | None]) -> Callable[..., None]:
        def run(kwargs: dict[str, Any]) -> Output | str | None:
            return command(**kwargs)  # type: ignore[call-arg]

        return _typer_command(command, run, skip=0, options=_json_option(json))

    return decorate
