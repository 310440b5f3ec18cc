"""CLI faces of the demo and the service: ``careloop demo``, ``careloop serve``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from careloop.cli.support import DatabaseOption, JsonOption, print_json


def demo(
    database: Annotated[
        Path, typer.Option("--database", "-d", help="SQLite file to (re)create for the demo.")
    ] = Path("careloop-demo.db"),
    keep: Annotated[bool, typer.Option(help="Keep an existing demo database.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop on the embedded default (SQLite) with the bundled sample."""
    import logging

    from careloop.cli.demo_run import run_demo

    # The demo's tables are its output; warnings meant for operators (e.g. no secret key
    # configured, so a per-process one is used) would only clutter them.
    logging.getLogger("careloop").setLevel(logging.ERROR)
    console = Console(file=sys.stderr if as_json else sys.stdout)
    console.print(f"[bold]careloop demo[/] - database {database}")
    report = run_demo(database=database, console=console, keep=keep)
    if as_json:
        print_json({"database": report.database, **report.sections})
    else:
        console.print(
            f"\nDone. Inspect it with: careloop patients list --database {report.database}\n"
            f"Serve the API with:   careloop serve --database {report.database}"
        )


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    with_worker: Annotated[
        bool | None,
        typer.Option(
            "--with-worker/--no-worker",
            help="Run the outreach scheduler and one worker in-process "
            "(default: on for SQLite, off for PostgreSQL where `careloop worker` runs apart).",
        ),
    ] = None,
) -> None:
    """Run the HTTP service (API, OpenAPI at /docs)."""
    import uvicorn

    from careloop.db import is_sqlite
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index
    from careloop.runtime import open_runtime
    from careloop.web.app import create_app

    configure_logging()
    rt = open_runtime(database=database)
    ensure_contact_index(rt)
    app = create_app(rt)
    app.state.code_sender = _code_sender(rt)
    stop = None
    if with_worker if with_worker is not None else is_sqlite(rt.engine):
        from careloop.compose.outreach import start_in_process

        _, stop = start_in_process(rt)
    try:
        uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        if stop is not None:
            stop.set()


def _code_sender(rt: Any) -> Any:
    """Portal codes through the configured adapters (shown on the terminal with fakes)."""
    from careloop.channels.portal import InMemoryPortalInbox
    from careloop.channels.registry import build_channels
    from careloop.outreach.config import outreach_settings
    from careloop.web.code_delivery import ChannelCodeSender

    _own, channels = outreach_settings(rt.settings)
    registry = build_channels(channels, clock=rt.clock, portal_inbox=InMemoryPortalInbox())
    fake = channels.sms.provider == "fake" and channels.email.provider == "fake"
    return ChannelCodeSender(
        registry=registry,
        public_base_url=rt.settings.security.public_base_url,
        echo_to_terminal=fake,
    )


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("serve")(serve)
