"""``careloop report``: KPIs, holdout uplift and fairness, as a table, JSON or an HTML page."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from careloop.audit import AuditAction, Purpose, audit
from careloop.cli.support import DatabaseOption, JsonOption, guarded, print_json, runtime
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
    table = Table(title=f"Programs {data['period']['start']} to {data['period']['end']}")
    for column in (
        "program",
        "eligible",
        "enrolled",
        "contacted",
        "engaged",
        "completed",
        "uplift (95% CI)",
    ):
        table.add_column(column)
    for p in data["programs"]:
        intended = p["experiment"].get("as_intended")
        uplift = "-"
        if intended:
            low, high = intended["ci95"]
            uplift = f"{intended['difference']:+.1%} ({low:+.1%}, {high:+.1%})"
        table.add_row(
            p["program"],
            str(p["reach"]["eligible"]),
            str(p["reach"]["enrolled"]),
            str(p["reach"]["contacted"]),
            str(p["engagement"]["engaged_within_72h"]),
            str(p["completion"]["completed"]),
            uplift,
        )
    console.print(table)
    if html is not None:
        console.print(f"HTML report written to {html}")


def register(app: typer.Typer) -> None:
    app.command("report")(report)
