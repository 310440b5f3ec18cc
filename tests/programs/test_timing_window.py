"""A timing filter's window per measurement period: the same as resolving it afresh, and
kept for a bounded number of periods (a long-lived worker meets a new one every day)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from careloop.programs.measures.criteria import Context, Library, compile_retrieve
from careloop.programs.measures.record import PatientRecord
from careloop.programs.measures.timing import (
    ONE_MS,
    WINDOWS_KEPT,
    TimingWindow,
    compile_anchor,
    resolve_anchor,
)

DAY0 = datetime(2020, 1, 1, tzinfo=UTC)


@dataclass
class _Period:
    start: datetime
    end: datetime


def _fresh(low: str, high: str, period: _Period, *, high_open: bool) -> tuple[datetime, datetime]:
    lo = resolve_anchor(compile_anchor(low), period.start, period.end)
    hi = resolve_anchor(compile_anchor(high), period.start, period.end)
    return lo, hi - ONE_MS if high_open else hi


@given(
    days=st.lists(st.integers(min_value=0, max_value=3 * WINDOWS_KEPT), max_size=80),
    high_open=st.booleans(),
)
def test_a_window_equals_its_fresh_resolution_in_any_order_of_periods(
    days: list[int], high_open: bool
) -> None:
    timing = TimingWindow(
        compile_anchor("start - 1 year"), compile_anchor("end"), high_open=high_open
    )
    for day in days:
        period = _Period(DAY0 + timedelta(days=day), DAY0 + timedelta(days=day + 364))
        expected = _fresh("start - 1 year", "end", period, high_open=high_open)
        assert timing.window(period.start, period.end) == expected
        assert timing.seconds(period) == (expected[0].timestamp(), expected[1].timestamp())
        assert len(timing) <= WINDOWS_KEPT


def test_a_compiled_timing_filter_keeps_few_periods_over_a_long_life() -> None:
    """A year of nights, each with its own period, in one process: the retrieve's window
    cache stays bounded (it grew by one entry a night, for the process's life)."""
    found = compile_retrieve(
        {
            "resource": "Encounter",
            "when": {"field": "period", "relation": "overlaps", "window": ["start", "end"]},
        },
        Library(name="test", valuesets={}, codes={}, definitions={}, python={}),
    )
    _, seconds_of = found.timing_tests[0]  # type: ignore[attr-defined]
    record = PatientRecord([{"resourceType": "Patient", "id": "p"}])
    for day in range(365):
        start = DAY0 + timedelta(days=day)
        ctx = Context(record=record, start=start, end=start + timedelta(days=365))
        assert seconds_of(ctx) == (ctx.start.timestamp(), ctx.end.timestamp())
        assert found(ctx) == []
    assert len(seconds_of.__self__) <= WINDOWS_KEPT
