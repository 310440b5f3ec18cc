"""The one entry point: ``careloop ...``. Sub-commands live next to the domain they drive."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click
import typer
from typer.core import TyperGroup

from careloop import __version__
from careloop.cli.support import JSON_ERRORS, fail, print_json
from careloop.errors import Ambiguous, CareloopError, error_body


class _GuardedGroup(TyperGroup):
    """The root command group: careloop's own errors end any command with one clean line.

    Every sub-command runs inside this ``invoke``, so no command can leak a traceback for
    bad input (``InvalidInput``, ``NotFound``, ...), whether or not it remembered to catch it.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CareloopError as exc:
            if ctx.meta.get(JSON_ERRORS) and isinstance(exc, Ambiguous):
                # A ``--json`` caller reads the candidates to choose from as JSON too; every
                # other error stays the one line on stderr, with nothing on stdout.
                print_json(error_body(exc))
            message = str(exc)
            field = getattr(exc, "field", None)
            if field and field not in message:
                message = (
                    f"{field}: {message}"  # which input to fix (``text: the message is empty``)
                )
            fail(message)


_root = typer.Typer(
    cls=_GuardedGroup,
    name="careloop",
    help="Hyper-personalized patient engagement: FHIR in, the right message out, the loop closed.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"careloop {__version__}")
        raise typer.Exit()


@_root.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Show the version."
    ),
) -> None:
    """careloop command line."""
    import os

    from careloop.compose.configuration import check_environment

    # Before any command: a misspelled CARELOOP_* variable is an error, never ignored.
    check_environment(os.environ)


# Every domain that has commands, in help order. Registration is explicit: a module that
# fails to import stops the CLI loudly instead of silently losing its commands.
COMMAND_MODULES = (
    "careloop.cli.demo",
    "careloop.cli.db",
    "careloop.cli.records",
    "careloop.cli.programs",
    "careloop.cli.content",
    "careloop.cli.personalize",
    "careloop.cli.sim",
    "careloop.cli.insights",
    "careloop.cli.reports",
    "careloop.cli.outreach",
    "careloop.cli.jobs",
    # -- more domains register here (one line each: "careloop.<domain>.commands") --
    "careloop.cli.feedback",
    "careloop.cli.careteam",
    "careloop.cli.devices",
    "careloop.cli.governance",
    "careloop.cli.keys",
    "careloop.cli.fhir",
    "careloop.cli.schedule",
    "careloop.cli.loyalty",
    "careloop.cli.digitaltools",
    "careloop.cli.nightly",
    "careloop.cli.medications",
    "careloop.cli.forms",
    "careloop.cli.reviews",
)


LEAN_COMMANDS = {"worker": "careloop.cli.outreach"}
"""Commands whose process loads only their own module's commands: a worker (and each
replacement of a killed one) starts without the Typer commands of every other domain
(1,700 modules and ~2 s of CPU at start-up, docs/benchmarks.md, dsp4)."""

_registered: set[str] = set()


def _register(names: tuple[str, ...] = COMMAND_MODULES) -> typer.Typer:
    for name in names:
        if name not in _registered:
            importlib.import_module(name).register(_root)
            _registered.add(name)
    return _root


def __getattr__(name: str) -> typer.Typer:
    """``careloop.cli.app``: the root group with every domain's commands registered (the
    entry point registers only what its command needs, :func:`main`)."""
    if name == "app":
        return _register()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    lean = LEAN_COMMANDS.get(command or "")
    _register((lean,) if lean else COMMAND_MODULES)()
