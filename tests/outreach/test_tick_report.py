"""The tick's counters: every name a use case may count is a field of the report."""

from __future__ import annotations

import dataclasses
from typing import get_args

from careloop.outreach.tick_context import TickCount, TickReport, bump


def test_every_tick_count_is_a_report_counter_and_every_counter_can_be_counted() -> None:
    counters = {
        f.name
        for f in dataclasses.fields(TickReport)
        if f.type in ("int", int)  # the counts; the hand-offs and by_program are not
    }
    assert set(get_args(TickCount)) == counters


def test_a_count_adds_to_the_total_and_to_its_program() -> None:
    report = TickReport()
    bump(report, "flu", "queued", 2)
    bump(report, "mammo", "queued")
    assert report.queued == 3
    assert report.as_dict()["by_program"] == {"flu": {"queued": 2}, "mammo": {"queued": 1}}
