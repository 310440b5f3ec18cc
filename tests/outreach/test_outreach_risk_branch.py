"""Journeys branch on no-show risk: a high-risk booking gets the extra reminder."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.errors import InvalidInput
from careloop.outreach.config import OutreachSettings
from careloop.outreach.journey import JourneyFacts, branch_applies
from careloop.outreach.program import from_mapping
from careloop.outreach.service import load_outreach_programs

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _facts(band: str | None) -> JourneyFacts:
    return JourneyFacts(
        enrolled_at=NOW,
        anchors={},
        last_step_at=None,
        last_reply_at=None,
        event_times={},
        risk_band=band,
    )


def test_the_shipped_appointment_journey_adds_a_reminder_only_for_high_risk() -> None:
    journey = next(
        p for p in load_outreach_programs(OutreachSettings()) if p.name == "appointment-reminders"
    )
    [extra] = [s for s in journey.steps if s.risk == "high"]
    assert branch_applies(extra, _facts("high"))
    assert not branch_applies(extra, _facts("medium"))
    assert not branch_applies(extra, _facts(None))
    assert all(
        branch_applies(s, _facts(None))
        for s in journey.steps
        if s.risk is None and s.when.value == "always"
    )


def test_an_unknown_risk_band_in_a_journey_is_refused_naming_the_step() -> None:
    with pytest.raises(InvalidInput) as error:
        from_mapping(
            {"name": "x", "purpose": "care-reminders", "steps": [{"message": "m", "risk": "very"}]}
        )
    assert error.value.field == "journey.steps[0].risk"
