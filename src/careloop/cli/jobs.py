"""``careloop jobs list|run``: the periodic jobs every ``careloop worker`` runs."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console

from careloop.cli.command import Drawn, Output, Work, in_transaction
from careloop.cli.options import DatabaseOption, JsonOption
from careloop.cli.support import command_group, new_table, print_json, runtime

jobs_app = command_group("Periodic jobs: last run, next run, failures.")


@jobs_app.command("list")
@in_transaction()
def jobs_list(work: Work) -> Output:
    """Each job's last run (when, where, how), next run and failures."""
    from careloop.compose.jobs import job_status

    rows = job_status(work.session)
    return Drawn(rows, lambda: _print_jobs(rows))


def _print_jobs(rows: list[dict[str, Any]]) -> None:
    if not rows:
        Console().print("no job has run yet: start `careloop worker` (or `careloop serve`)")
        return
    table = new_table(
        None,
        "job",
        "last run",
        "status",
        "next run",
        "runs",
        "failures",
        right=("runs", "failures"),
    )
    for r in rows:
        last = r["last_finished_at"]
        status = (r["last_status"] or "-") + (f" ({r['last_error']})" if r["last_error"] else "")
        table.add_row(
            r["name"],
            f"{last:%Y-%m-%d %H:%M:%S}" if last else "-",
            f"running on {r['running_on']}" if r["running_on"] else status,
            f"{r['next_run_at']:%Y-%m-%d %H:%M:%S}",
            str(r["runs"]),
            str(r["failures"]),
        )
    Console().print(table)


@jobs_app.command("run")
def jobs_run(
    database: DatabaseOption = None,
    as_json: JsonOption = False,
    owner: Annotated[
        str | None, typer.Option("--id", help="Name to hold the leases under.")
    ] = None,
) -> None:
    """Run the jobs that are due now (those not leased by a running worker), then stop."""
    from careloop.compose.jobs import JobRunner

    with runtime(database) as rt:
        outcomes = JobRunner(rt, owner=owner).run_due()
    rows = [{"name": o.name, "status": o.status, **o.result} for o in outcomes]
    if as_json:
        print_json(rows)
    else:
        Console().print("\n".join(f"{r['name']}: {r['status']}" for r in rows) or "nothing due")


def register(app: typer.Typer) -> None:
    app.add_typer(jobs_app, name="jobs")
