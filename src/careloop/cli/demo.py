"""CLI faces of the demo and the service: ``careloop demo``, ``careloop serve``."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.console import Console

from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import print_json, runtime


def demo(
    database: Annotated[
        str,
        typer.Option(
            "--database",
            "-d",
            help="SQLite file to (re)create, or an empty PostgreSQL database "
            "(postgresql://user@host/db) to run the demo in.",
        ),
    ] = "careloop-demo.db",
    keep: Annotated[bool, typer.Option(help="Keep an existing demo database.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the whole loop with the bundled sample, on SQLite (default) or PostgreSQL."""
    import logging

    from careloop.cli.demo_run import run_demo
    from careloop.db import describe

    # The demo's tables are its output; warnings meant for operators (e.g. no secret key
    # configured, so a per-process one is used) would only clutter them.
    logging.getLogger("careloop").setLevel(logging.ERROR)
    console = Console(file=sys.stderr if as_json else sys.stdout)
    report = run_demo(database=database, console=console, keep=keep)
    if as_json:
        print_json(
            {
                "database": describe(report.database),
                **report.sections,
                "step_seconds": report.timings,
            }
        )
    else:
        shown = describe(report.database)
        console.print(
            f"\nDone. Inspect it with: careloop patients list --database {shown}\n"
            f"Serve the API with:   careloop serve --database {shown}",
            highlight=False,
        )


def serve(
    database: DatabaseOption = None,
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on (default CARELOOP_WEB__HOST).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="Port to listen on (default CARELOOP_WEB__PORT)."),
    ] = None,
    with_worker: Annotated[
        bool | None,
        typer.Option(
            "--with-worker/--no-worker",
            help="Run the periodic jobs and one outbox worker in-process "
            "(default: on for SQLite, off for PostgreSQL where `careloop worker` runs apart).",
        ),
    ] = None,
) -> None:
    """Run the HTTP service (API, OpenAPI at /docs, /metrics, /health, /ready)."""
    import uvicorn

    from careloop.content.lint_cache import warm_reports
    from careloop.crypto import configured_signing_key, signing_key
    from careloop.db import is_sqlite
    from careloop.governance.portal import adopt_process_key
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index
    from careloop.web.app import create_app

    with runtime(database) as rt:
        logging_settings = rt.settings.logging
        configure_logging(logging_settings.level, json_format=logging_settings.json_format)
        ensure_contact_index(rt)
        with rt.transaction() as session:
            adopt_process_key(
                session,
                key=signing_key(rt.settings),
                configured=configured_signing_key(rt.settings) is not None,
            )
            warm_reports(session)  # the console's Content page answers at once after a restart
        app = create_app(rt)
        app.state.code_sender = _code_sender(rt)
        stop = None
        if with_worker if with_worker is not None else is_sqlite(rt.engine):
            from careloop.compose.process import start_in_process

            _, stop = start_in_process(rt)
        try:
            uvicorn.run(
                app,
                host=host or rt.settings.web.host,
                port=port or rt.settings.web.port,
                log_config=None,
                access_log=False,
                # The app reads forwarding headers itself, from ``web.trusted_proxies`` only.
                proxy_headers=False,
            )
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
