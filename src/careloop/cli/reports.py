"""``careloop report``: KPIs, holdout uplift and fairness, as a table, JSON or an HTML page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from careloop.audit import AuditAction, Purpose, audit
from careloop.cli.support import (
    DatabaseOption,
    JsonOption,
    guarded,
    new_table,
    print_json,
    runtime,
)
from careloop.insights.report import build_report
from careloop.insights.report_html import render_report_html
from careloop.periods import parse_period
from careloop.security.principal import Principal
from careloop.security.roles import Role


@guarded
def report(
    program: Annotated[str | None, typer.Option(help="Only this program.")] = None,
    period: Annotated[
        str | None, typer.Option(help="START/END dates; default the last 90 days.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    min_ratio: Annotated[
        float, typer.Option(help="Flag groups whose rate is below this ratio to the best.")
    ] = 0.8,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Engagement, completion, holdout uplift and a fairness review per program."""
    with runtime(database) as rt, rt.transaction() as session:
        if period:
            start, end = parse_period(period)
        else:
            end = rt.clock.now()
            start = end - timedelta(days=90)
        data = build_report(session, start=start, end=end, program=program, min_ratio=min_ratio)
        from careloop.medications.figures import medication_figures

        data["medications"] = medication_figures(session, start=start, end=end)
        audit(
            session,
            clock=rt.clock,
            principal=Principal(actor="cli:report", role=Role.ANALYST, source="cli"),
            action=AuditAction.READ,
            resource="report",
            purpose=Purpose.ANALYTICS,
        )
    if html is not None:
        html.write_text(render_report_html(data), encoding="utf-8")
    if as_json:
        print_json(data)
        return
    console = Console()
    table = programs_table(
        data,
        title=f"Programs {data['period']['start']} to {data['period']['end']}",
        reach=("eligible", "enrolled", "contacted"),
        engaged="engaged",
        digits=1,
    )
    console.print(table)
    if html is not None:
        console.print(f"HTML report written to {html}")


def programs_table(
    data: dict[str, Any], *, title: str, reach: tuple[str, ...], engaged: str, digits: int
) -> Table:
    """One row per program of a report: reach counts, engagement, completion, holdout uplift."""
    table = new_table(title, "program", *reach, engaged, "completed", "uplift (95% CI)")
    for p in data["programs"]:
        intended = p["experiment"].get("as_intended")
        uplift = "-"
        if intended:
            low, high = intended["ci95"]
            fmt = f"+.{digits}%"
            uplift = f"{intended['difference']:{fmt}} ({low:{fmt}}, {high:{fmt}})"
        table.add_row(
            p["program"],
            *(str(p["reach"][column]) for column in reach),
            str(p["engagement"]["engaged_within_72h"]),
            str(p["completion"]["completed"]),
            uplift,
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("report")(report)
