"""The one entry point: ``careloop ...``. Sub-commands live next to the domain they drive."""

from __future__ import annotations

import importlib
from typing import Any

import click
import typer
from typer.core import TyperGroup

from careloop import __version__
from careloop.cli.support import fail
from careloop.errors import CareloopError


class _GuardedGroup(TyperGroup):
    """The root command group: careloop's own errors end any command with one clean line.

    Every sub-command runs inside this ``invoke``, so no command can leak a traceback for
    bad input (``InvalidInput``, ``NotFound``, ...), whether or not it remembered to catch it.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CareloopError as exc:
            fail(str(exc))


app = typer.Typer(
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


@app.callback()
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


def _register() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


_register()


def main() -> None:
    app()
