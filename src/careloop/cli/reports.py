"""``careloop report``: KPIs, holdout uplift and fairness, as a table, JSON or an HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Output, Work, in_transaction
from careloop.cli.support import new_table, print_json
from careloop.insights.kpis.retention import LapsePolicy
from careloop.insights.report import build_report
from careloop.insights.report_html import render_report_html
from careloop.outreach.titles import program_title, report_titles
from careloop.periods import parse_period
from careloop.programs.segments.service import segment_membership
from careloop.security.principal import Principal
from careloop.security.roles import Role


@in_transaction()
def report(
    work: Work,
    program: Annotated[str | None, typer.Option(help="Only this program.")] = None,
    period: Annotated[
        str | None, typer.Option(help="START/END dates; default the last 90 days.")
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Also write an HTML report here.")] = None,
    min_ratio: Annotated[
        float, typer.Option(help="Flag groups whose rate is below this ratio to the best.")
    ] = 0.8,
) -> Output:
    """Engagement, completion, holdout uplift and a fairness review per program."""
    from careloop.medications.figures import medication_figures

    session, settings = work.session, work.rt.settings
    if period:
        start, end = parse_period(period)
    else:
        end = work.now()
        start = end - timedelta(days=90)
    data = build_report(
        session,
        start=start,
        end=end,
        program=program,
        min_ratio=min_ratio,
        segments=segment_membership(session, now=end),
        lapse=LapsePolicy(
            default_days=settings.return_visits.lapse_days,
            by_segment=settings.return_visits.lapse_days_by_segment,
        ),
    )
    data["medications"] = medication_figures(session, start=start, end=end)
    work.audit(
        AuditAction.READ, "report", Purpose.ANALYTICS,
        principal=Principal(actor="cli:report", role=Role.ANALYST, source="cli"),
    )  # fmt: skip
    return _Report(data, html)


@dataclass(frozen=True)
class _Report:
    """The report, with its HTML page written first when ``--html`` names a file."""

    data: dict[str, Any]
    html: Path | None

    def show(self, *, as_json: bool) -> None:
        data, html = self.data, self.html
        if html is not None:
            page = render_report_html(data, titles=report_titles(data))
            html.write_text(page, encoding="utf-8")
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
        if (left_out := internal_line(data)) is not None:
            console.print(left_out)
        for program_data in data["programs"]:
            if "access" in program_data:
                title = program_title(program_data["program"])
                console.print(access_table(title, program_data["access"]))
        if "retention" in data:
            console.print(retention_table(data["retention"]))
        if "rewards" in data:
            console.print(rewards_table(data["rewards"]))
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
            uplift += _too_few(intended)
        table.add_row(
            program_title(p["program"]),
            *(str(p["reach"][column]) for column in reach),
            str(p["engagement"]["engaged_within_72h"]),
            str(p["completion"]["completed"]),
            uplift,
        )
    return table


def _too_few(comparison: dict[str, Any]) -> str:
    """The power note beside an interval the arms are too small for (a holdout of 1), so it is
    not read as a result; nothing otherwise (a stored report from before the note: nothing)."""
    return f"\n{comparison['too_few']}" if comparison.get("too_few") else ""


def internal_line(data: dict[str, Any]) -> str | None:
    """One sentence on the entries left out of the programs table (not programs a manager
    runs): how many of each kind, the patients and events they name."""
    kinds: dict[str, list[dict[str, Any]]] = {}
    for entry in data.get("internal", []):
        kinds.setdefault(entry["kind"], []).append(entry)
    if not kinds:
        return None
    parts = [
        f"{_INTERNAL_KINDS.get(kind, kind)} ({kind}:..., {_count(len(entries), 'kind')}, "
        f"{_count(sum(e['events'] for e in entries), 'event')})"
        for kind, entries in sorted(kinds.items())
    ]
    return "Not programs, left out above: " + "; ".join(parts) + " (--json: internal)."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_INTERNAL_KINDS = {"request": "one-off messages", "prep": "exam-prep journeys"}


def access_table(program: str, access: dict[str, Any]) -> Table:
    """An access program's offers, visits and no-shows, treated against the holdout."""
    conversion = access["conversion_per_offer"]
    table = new_table(
        f"Access ({program}): {access['offers_booked']} of {access['offers']} offers booked"
        f" ({'-' if conversion is None else f'{conversion:.1%}'})",
        "measure",
        "treated",
        "holdout",
        "difference (95% CI)",
    )

    def arm(cell: dict[str, Any]) -> str:
        return "-" if cell["rate"] is None else f"{cell['rate']:.1%} of {cell['n']}"

    for label, key in (("visit booked after the gap", "booked"), ("no-show", "noshow")):
        row = access[key]
        difference = "-"
        if "difference" in row:
            low, high = row["ci95"]
            difference = f"{row['difference']:+.1%} ({low:+.1%}, {high:+.1%})" + _too_few(row)
        table.add_row(label, arm(row["treated"]), arm(row["holdout"]), difference)
    days = access["days_gap_to_visit"]
    table.add_row(
        "median days from gap to visit",
        *(
            "-" if days[k] is None else f"{days[k]:.1f}"
            for k in ("treated_median", "holdout_median")
        ),
        "-" if days["difference"] is None else f"{days['difference']:+.1f}",
    )
    return table


def retention_table(retention: dict[str, Any]) -> Table:
    """Return rate and lapsed patients, overall then one row per segment (hidden cells: -)."""
    table = new_table(
        "Retention", "group", "seen before", "returned", "return rate", "panel", "lapsed"
    )

    def cell(value: object, *, rate: bool = False) -> str:
        if value is None:
            return "-"
        return f"{value:.1%}" if rate and isinstance(value, float) else str(value)

    rows = [{"segment": "all patients", **retention["overall"]}, *retention["by_segment"]]
    for row in rows:
        table.add_row(
            row["segment"],
            cell(row["seen_before"]),
            cell(row["returned"]),
            cell(row["return_rate"], rate=True),
            cell(row["panel"]),
            f"{cell(row['lapsed'])} ({cell(row['lapsed_rate'], rate=True)})",
        )
    return table


def rewards_table(rewards: dict[str, Any]) -> Table:
    """Who earned rewards in the period, overall then by segment (hidden cells: -)."""
    table = new_table("Rewards", "group", "patients", "earned", "rate", "rewards", "value")
    rows = [{"segment": "all patients", **rewards["overall"]}, *rewards["by_segment"]]
    for row in rows:
        rate, value = row["earner_rate"], row["value_cents"]
        table.add_row(
            row["segment"],
            "-" if row["patients"] is None else str(row["patients"]),
            "-" if row["earners"] is None else str(row["earners"]),
            "-" if rate is None else f"{rate:.1%}",
            "-" if row["rewards"] is None else str(row["rewards"]),
            "-" if value is None else f"${value / 100:,.2f}",
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("report")(report)
