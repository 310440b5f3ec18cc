"""The one entry point: ``careloop ...``. Sub-commands live next to the domain they drive."""

from __future__ import annotations

import typer

from careloop import __version__

app = typer.Typer(
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


def _register() -> None:
    # Each domain package exposes its commands; registration is explicit so a failed import
    # is loud, never silently skipped.
    from careloop.records import commands as records_commands

    records_commands.register(app)
    # -- more domains register here (one line each) --
    from careloop.programs import commands as programs_commands

    programs_commands.register(app)
    __import__("careloop.insights.commands", fromlist=["register"]).register(app)
    __import__("careloop.personalize.commands", fromlist=["register"]).register(app)
    __import__("careloop.sim.commands", fromlist=["register"]).register(app)


_register()


def main() -> None:
    app()
