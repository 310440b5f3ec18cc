"""HTTP API of insights: the program report (aggregates only)."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from careloop.audit import AuditAction, Purpose
from careloop.insights.report import build_report
from careloop.insights.report_html import render_report_html
from careloop.outreach.titles import report_titles
from careloop.periods import parse_period
from careloop.web.deps import Acting, acting

router = APIRouter(prefix="/api/reports", tags=["reports"])

PeriodQuery = Annotated[
    str | None,
    Query(
        description="START/END dates, both included; default the last 90 days.",
        examples=["2026-01-01/2026-03-31"],
        max_length=40,
    ),
]


def _report(
    act: Annotated[Acting, acting("reports:read")],
    period: PeriodQuery = None,
    program: Annotated[str | None, Query(max_length=128)] = None,
    min_ratio: Annotated[float, Query(gt=0, le=1)] = 0.8,
) -> dict[str, Any]:
    """The report for the query's period (default the last 90 days), audited as an analytics
    read; both the JSON and the HTML route take it as a dependency."""
    if period:
        start, end = parse_period(period)
    else:
        end = act.clock.now()
        start = end - timedelta(days=90)
    data = build_report(act.session, start=start, end=end, program=program, min_ratio=min_ratio)
    act.auditor(Purpose.ANALYTICS)(AuditAction.READ, "report")
    return data


ReportDep = Annotated[dict[str, Any], Depends(_report)]


@router.get("/programs")
def program_report(report: ReportDep) -> dict[str, Any]:
    """KPIs, holdout uplift with 95 % intervals and the fairness review, per program."""
    return report


@router.get("/programs.html", response_class=HTMLResponse)
def program_report_html(report: ReportDep) -> HTMLResponse:
    """The same report as a self-contained HTML page with SVG charts."""
    return HTMLResponse(render_report_html(report, titles=report_titles(report)))
