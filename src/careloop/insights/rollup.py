"""The programs page's figures, computed by a job and stored, read by the page.

The page's report aggregates the event log of its whole period (every nightly decision and
message: 8.6 s a request at 10,000 patients), so a periodic job (``programs-rollup``) computes
it with :func:`~careloop.insights.report.programs_page_report` and stores the result; the
page reads one row and says when the figures were computed. The figures are the live ones
as of that moment, JSON round-tripped (week starts as ISO text).

A row stored before the send windows were read from each send's decision says "unknown" for
every window; read back, its windows are computed again from the decisions (two queries a
week, not the whole report) until the job next replaces it: a window the engine chose is
never shown as "unknown".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from careloop.insights.program_figures import engagement_figures
from careloop.insights.report import programs_page_report, send_window_rows
from careloop.models import ProgramsRollup

WEEKS = 8
"""The page's default window, the one the job precomputes."""

Weekly = list[tuple[datetime, dict[str, Any]]]
WINDOWS_FROM = "send_windows_from"
"""Key of a stored report written since the send windows come from each send's decision
(:func:`careloop.insights.program_figures._send_window`); a row without it predates that."""
DECIDED = "decision"


@dataclass(frozen=True)
class ProgramsFigures:
    report: dict[str, Any]
    weekly: Weekly
    computed_at: datetime
    """When the figures were computed: the end of their period."""


def compute_programs_figures(session: Session, *, now: datetime, weeks: int) -> ProgramsFigures:
    """The live figures of the ``weeks`` weeks before ``now``."""
    start = now - timedelta(weeks=weeks)
    report, weekly = programs_page_report(session, start=start, end=now, weeks=weeks)
    return ProgramsFigures(report, weekly, now)


def write_programs_rollup(
    session: Session, *, now: datetime, weeks: int = WEEKS
) -> ProgramsFigures:
    """Compute the figures as of ``now`` and store them, replacing the previous rollup."""
    figures = compute_programs_figures(session, now=now, weeks=weeks)
    session.execute(delete(ProgramsRollup).where(ProgramsRollup.weeks == weeks))
    session.add(
        ProgramsRollup(
            weeks=weeks,
            period_start=now - timedelta(weeks=weeks),
            computed_at=now,
            report={**figures.report, WINDOWS_FROM: DECIDED},
            weekly=[[start.isoformat(), week] for start, week in figures.weekly],
        )
    )
    session.flush()
    return figures


def read_programs_rollup(session: Session, *, weeks: int) -> ProgramsFigures | None:
    """The stored figures of a ``weeks``-week window, or None when the job has not run."""
    row = session.get(ProgramsRollup, weeks)
    if row is None:
        return None
    weekly = [(datetime.fromisoformat(start), week) for start, week in row.weekly]
    report = dict(row.report)
    stored = ProgramsFigures(report, weekly, row.computed_at)
    if report.pop(WINDOWS_FROM, None) == DECIDED:
        return stored
    return _with_decided_windows(session, stored, start=row.period_start)


def _with_decided_windows(
    session: Session, figures: ProgramsFigures, *, start: datetime
) -> ProgramsFigures:
    """``figures`` with each program's send windows (the period's and each week's) computed
    again from the sends' decisions."""

    def windows(programs: list[dict[str, Any]], *, since: datetime, until: datetime) -> list[Any]:
        found = engagement_figures(session, start=since, end=until)
        return [
            {
                **program,
                "send_windows": send_window_rows(found[program["program"]])
                if program["program"] in found
                else [],
            }
            for program in programs
        ]

    report = {
        **figures.report,
        "programs": windows(figures.report["programs"], since=start, until=figures.computed_at),
    }
    weekly = [
        (
            week_start,
            {
                **week,
                "programs": windows(
                    week["programs"], since=week_start, until=week_start + timedelta(weeks=1)
                ),
            },
        )
        for week_start, week in figures.weekly
    ]
    return ProgramsFigures(report, weekly, figures.computed_at)
