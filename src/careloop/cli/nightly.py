"""``careloop nightly``: the nightly cycle (care gaps, decisions, outbox) in slices of patients."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from careloop.cli.support import DatabaseOption, JsonOption, guarded, print_json, runtime


@guarded
def nightly(
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Processes running slices (PostgreSQL).")
    ] = 1,
    shard: Annotated[
        str,
        typer.Option(
            "--shard", help="K/M: this machine runs every M-th slice, from slice K (0/1: all)."
        ),
    ] = "0/1",
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every program's care gaps, a decision per eligible patient, messages into the outbox."""
    from careloop.compose.nightly import parse_shard, run_nightly

    part = parse_shard(shard)
    with runtime(database) as rt:
        url = rt.engine.url.render_as_string(hide_password=False)
        report = run_nightly(rt, database=url, now=rt.clock.now(), workers=workers, shard=part)
    if as_json:
        print_json(report.as_dict())
        return
    Console().print(
        f"{report.patients} patients in {report.slices} slices: {report.gaps} care gaps, "
        f"{report.enrolled} enrolled, {report.decided} decisions, {report.enqueued} queued"
    )


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
