"""The programs page's learning curve by send window: one series per window the engine chose
(read from each send's decision: the sent event does not carry it), named as a reader names a
time of day, and every date on the axis inside the chart, also from a roll-up stored before
the windows were read from the decisions. On both databases."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from careloop.events import NewEvent, record_events
from careloop.insights.rollup import WEEKS, write_programs_rollup
from careloop.models import DecisionRow, ProgramsRollup
from careloop.runtime import Runtime

PROGRAM = "breast-cancer-screening"
CHAR_PX = 6.5  # an upper bound of a date's character at font-size 11 ("Mar 02")


def _sends(rt: Runtime) -> None:
    """Six sends over three weeks, each with its engine decision (08-11 or 17-20), and a reply
    to the morning ones, as the worker and the reply router write them."""
    now = rt.clock.now()
    events = []
    with rt.transaction() as session:
        for n in range(6):
            at = now - timedelta(days=3 + n * 4)
            window = "08-11" if n % 2 else "17-20"
            decision = f"00000000-0000-0000-0000-00000000000{n}"
            session.add(
                DecisionRow(
                    id=decision,
                    patient_id=f"p-{n}",
                    program=PROGRAM,
                    decided_at=at,
                    channel="sms",
                    send_window=window,
                    language="en",
                    explanation="test",
                    model_version="test",
                )
            )
            base: dict[str, Any] = {"actor": "test", "patient_id": f"p-{n}", "program": PROGRAM}
            events.append(
                NewEvent(
                    kind="sent",
                    occurred_at=at,
                    payload={"channel": "sms", "decision_id": decision, "step": "invite"},
                    **base,
                )
            )
            if window == "08-11":
                events.append(NewEvent(kind="replied", occurred_at=at + timedelta(hours=2), **base))
        record_events(session, events=events, clock=rt.clock)


def _window_chart(html: str) -> str:
    charts = re.findall(r"<svg.*?</svg>", html, re.S)
    return next(c for c in charts if "Engagement by send window" in c)


def test_the_window_curve_has_one_named_series_per_send_window(
    rt: Runtime, api_client: Any
) -> None:
    _sends(rt)

    page = api_client("admin").get("/console/programs")

    assert page.status_code == 200
    chart = _window_chart(page.text)
    legend = re.findall(r'font-size="12"\s+fill="#1b1f24">([^<]+)</text>', chart)
    assert legend == ["08:00–11:00", "17:00–20:00"]
    assert "unknown" not in chart
    assert "08:00–11:00 latest 100%" in chart  # every morning send was answered
    assert "17:00–20:00 latest 0%" in chart


def test_every_date_on_the_axis_ends_inside_the_chart(rt: Runtime, api_client: Any) -> None:
    _sends(rt)

    chart = _window_chart(api_client("admin").get("/console/programs").text)

    width = float(re.search(r'viewBox="0 0 (\d+)', chart).group(1))  # type: ignore[union-attr]
    dates = re.findall(
        r'<text x="([\d.]+)" y="[\d.]+" text-anchor="(\w+)"\s+font-size="11" fill="#4a5563">'
        r"([A-Z][a-z]{2} \d\d)</text>",
        chart,
    )
    assert len(dates) >= 2
    for x, anchor, label in dates:
        right = float(x) + {"middle": 0.5, "start": 1.0, "end": 0.0}[anchor] * len(label) * CHAR_PX
        assert right <= width, (label, x, anchor)


def test_a_rollup_stored_without_the_windows_shows_the_windows_the_engine_chose(
    rt: Runtime, api_client: Any
) -> None:
    """A roll-up the job stored before the windows were read from the decisions says
    "unknown" for every send: the page must show the engine's windows, not "No sends yet",
    before the job runs again."""
    _sends(rt)
    with rt.transaction() as session:
        write_programs_rollup(session, now=rt.clock.now())
        row = session.get(ProgramsRollup, WEEKS)
        assert row is not None
        row.report = _as_stored_before(row.report)
        row.weekly = [[start, _as_stored_before(week)] for start, week in row.weekly]

    page = api_client("admin").get("/console/programs")

    assert 'id="figures-as-of"' in page.text  # the stored figures, not a live computation
    chart = _window_chart(page.text)
    legend = re.findall(r'font-size="12"\s+fill="#1b1f24">([^<]+)</text>', chart)
    assert legend == ["08:00–11:00", "17:00–20:00"]
    assert "08:00–11:00 latest 100%" in chart
    assert "unknown" not in chart


def _as_stored_before(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` as the roll-up wrote it when a send's window was read from its own event
    only: every send in one "unknown" window, and no mark of where windows came from."""
    programs = []
    for program in report["programs"]:
        sent = sum(row["sent"] for row in program["send_windows"])
        unknown = [{"send_window": "unknown", "sent": sent, "engagement_rate": 0.5}]
        programs.append({**program, "send_windows": unknown if sent else []})
    return {k: v for k, v in report.items() if k != "send_windows_from"} | {"programs": programs}
