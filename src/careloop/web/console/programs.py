"""The programs page: funnel, the learning curve, outcome against the holdout, fairness,
and the latest engine policy comparison (``careloop engine compare|promote``).

Everything comes from :func:`careloop.insights.report.programs_page_report` (the program
report, aggregates only, small cells hidden, and its week-by-week engagement figures for the
learning curves). The default window is read as the ``programs-rollup`` job stored it
(:mod:`careloop.insights.rollup`; computing it takes seconds to minutes at population scale)
and the page says when it was computed; other windows, or before the job first ran, are
computed on the request.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from careloop.channels.labels import channel_name
from careloop.insights.rollup import WEEKS, compute_programs_figures, read_programs_rollup
from careloop.personalize.serving import stored_comparisons
from careloop.web.console.charts import bar_chart, interval_chart, line_chart
from careloop.web.console.pages import ConsoleView, viewer

router = APIRouter(include_in_schema=False)


def _funnel(program: dict[str, Any]) -> Markup:
    reach = program["reach"]
    rows: list[tuple[str, float | None]] = [
        ("eligible", float(reach["eligible"])),
        ("enrolled", float(reach["enrolled"])),
        ("contacted", float(reach["contacted"])),
        ("responded (72 h)", float(program["engagement"]["engaged_within_72h"])),
        ("completed", float(program["completion"]["completed"])),
    ]
    return bar_chart(rows, title="Funnel (patients)", percent=False)


def window_name(window: str) -> str | None:
    """A send window as a reader names it ("08-11" → "08:00–11:00", the patient's local time);
    ``None`` for sends no window was chosen for (a staff message, an answer to a reply), which
    the window curve leaves out: they are in the channel curve."""
    if window == "unknown":
        return None
    start, dash, end = window.partition("-")
    if not dash:
        return window
    return "–".join(part if ":" in part else f"{part}:00" for part in (start, end))


def learning_curves(weekly: list[tuple[datetime, dict[str, Any]]], name: str) -> dict[str, Markup]:
    """Engagement rate per week by channel and by send window, for one program."""
    by_channel: dict[str, list[tuple[datetime, float]]] = {}
    by_window: dict[str, list[tuple[datetime, float]]] = {}
    for week_start, report in weekly:
        for program in report["programs"]:
            if program["program"] != name:
                continue
            for row in program["channels"]:
                if row["engagement_rate"] is not None:
                    by_channel.setdefault(channel_name(row["channel"]), []).append(
                        (week_start, row["engagement_rate"])
                    )
            for row in program["send_windows"]:
                window = window_name(row["send_window"])
                if row["engagement_rate"] is not None and window is not None:
                    by_window.setdefault(window, []).append((week_start, row["engagement_rate"]))
    return {
        "channel": line_chart(
            by_channel, title="Engagement by channel, week by week", percent=True
        ),
        "window": line_chart(
            dict(sorted(by_window.items())),
            title="Engagement by send window (patient's local time), week by week",
            percent=True,
        ),
    }


@router.get("/console/programs", response_class=HTMLResponse)
def programs_page(
    view: Annotated[ConsoleView, viewer("reports:read", what="program reports")],
    weeks: int = WEEKS,
) -> Response:
    weeks = min(max(weeks, 1), 52)
    stored = read_programs_rollup(view.session, weeks=weeks)
    figures = stored or compute_programs_figures(view.session, now=view.clock.now(), weeks=weeks)
    report, weekly = figures.report, figures.weekly
    charts = {}
    for program in report["programs"]:
        intended = program["experiment"].get("as_intended")
        charts[program["program"]] = {
            "funnel": _funnel(program),
            "uplift": interval_chart(
                difference=intended["difference"],
                low=intended["ci95"][0],
                high=intended["ci95"][1],
                title="Completion: treated minus holdout",
            )
            if intended
            else Markup(""),
            **learning_curves(weekly, program["program"]),
        }
    return view.render(
        "console/programs.html",
        {
            "section": "programs",
            "report": report,
            "charts": charts,
            "weeks": weeks,
            "computed_at": figures.computed_at if stored else None,
            "comparisons": stored_comparisons(view.session),
        },
    )
