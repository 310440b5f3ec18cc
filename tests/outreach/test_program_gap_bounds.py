"""A program file's ``min_gap_hours`` of ``.nan``, ``.inf`` or 1e300 is refused at load with
the field named, not taken in to crash every tick and worker batch that builds the program's
budget (``timedelta(hours=nan)`` raises); a gap runs from 0 to a week."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from pydantic import ValidationError

from careloop.errors import InvalidInput
from careloop.outreach.budget import contact_budget, message_gap
from careloop.outreach.config import BudgetSettings, outreach_settings
from careloop.outreach.program import from_mapping
from careloop.settings import Settings

BASE = {"name": "strict", "steps": [{"id": "s1", "message": "screening_due"}]}


@pytest.mark.parametrize("bad", [math.nan, math.inf, 1e300])
def test_a_non_finite_or_absurd_gap_is_refused_at_load(bad: float) -> None:
    with pytest.raises(InvalidInput, match="min_gap_hours"):
        from_mapping({**BASE, "min_gap_hours": bad})


def test_a_gap_within_a_week_builds_the_budget_the_tick_and_worker_use() -> None:
    program = from_mapping({**BASE, "min_gap_hours": 168})
    budget = contact_budget(BudgetSettings(), min_gap_hours=program.min_gap_hours)
    gap = message_gap({"min_gap_hours": program.min_gap_hours}, default=budget.min_gap)
    assert budget.min_gap == gap == timedelta(hours=168)


@pytest.mark.parametrize("bad", ["nan", "inf", "200"])
def test_the_global_gap_setting_is_refused_outside_a_week(
    bad: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARELOOP_OUTREACH__BUDGET__MIN_GAP_HOURS", bad)
    with pytest.raises(ValidationError, match="min_gap_hours"):
        outreach_settings(Settings())
