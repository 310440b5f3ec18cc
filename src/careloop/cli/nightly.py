"""``careloop nightly``: the nightly cycle (care gaps, decisions, outbox) in slices of patients."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import print_json, runtime


def nightly(
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            "-w",
            help="Processes running slices (PostgreSQL); with --queue, the queue workers the "
            "slices are balanced over.",
        ),
    ] = 1,
    shard: Annotated[
        str,
        typer.Option(
            "--shard", help="K/M: this machine takes the patients whose id's CRC-32 is K mod M."
        ),
    ] = "0/1",
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Queue the night as tasks (PostgreSQL) for `careloop worker --queue` "
            "processes on any machine, instead of running it here.",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait", min=0, help="With --queue: seconds to wait for the night's tasks to end."
        ),
    ] = 0.0,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Every program's care gaps, a decision per eligible patient, messages into the outbox."""
    from careloop.compose.nightly import parse_shard, run_nightly

    part = parse_shard(shard)
    if queue:
        _queue_night(database, wait=wait, as_json=as_json, workers=workers)
        return
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


def _queue_night(database: str | None, *, wait: float, as_json: bool, workers: int) -> None:
    """Defer the night, or report the one already queued or running (its moment and tasks)."""
    from datetime import datetime

    from careloop.compose.queue import (
        STALE_NIGHT,
        defer_night,
        night_status,
        pending_night,
        wait_for_night,
    )

    with runtime(database) as rt:
        now = rt.clock.now()
        job = defer_night(rt, now=now, workers=workers)
        if job is None:
            with rt.transaction() as session:
                moment = pending_night(session, since=now - STALE_NIGHT)
            now = now if moment is None else datetime.fromisoformat(moment)
        status = wait_for_night(rt, now=now, timeout=wait) if wait else night_status(rt, now=now)
    result = {"night": now.isoformat(), "job": job, "tasks": status}
    if as_json:
        print_json(result)
        return
    queued = f"queued as task {job}" if job is not None else "already queued or running"
    states = ", ".join(f"{count} {state}" for state, count in sorted(status.items()))
    Console().print(f"night {result['night']} {queued}; tasks: {states}")


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
