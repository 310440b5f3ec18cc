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


def test_the_shipped_journey_gives_high_risk_only_an_early_offer_and_a_same_day_reminder() -> None:
    journey = next(
        p for p in load_outreach_programs(OutreachSettings()) if p.name == "appointment-reminders"
    )
    extras = [s for s in journey.steps if s.risk == "high"]
    assert [(s.id, s.handoff) for s in extras] == [
        ("offer-new-time-high-risk", "reschedule-offer"),
        ("remind-same-day-high-risk", None),
    ]
    for extra in extras:
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


def test_a_step_s_words_follow_the_visit_and_unknown_visits_or_hand_offs_are_refused() -> None:
    journey = next(
        p for p in load_outreach_programs(OutreachSettings()) if p.name == "appointment-reminders"
    )
    remind = next(s for s in journey.steps if s.id == "remind-3d")
    assert remind.message_for("telehealth") == "appointment_reminder_video"
    assert remind.message_for("ride") == "appointment_reminder_ride"
    assert remind.message_for("in-person") == "appointment_reminder_3d"
    assert remind.message_for(None) == "appointment_reminder_3d"
    for step, where in (
        ({"message": "m", "messages": {"boat": "x"}}, "journey.steps[0].messages"),
        ({"message": "m", "handoff": "teleport"}, "journey.steps[0].handoff"),
    ):
        with pytest.raises(InvalidInput) as error:
            from_mapping({"name": "x", "purpose": "care-reminders", "steps": [step]})
        assert error.value.field == where
