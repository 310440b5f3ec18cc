"""Scoring one booking for journeys and the console: probability, band, reasons in words."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from careloop.errors import InvalidInput
from careloop.insights.risk.features import PatientHistory
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.scoring import RiskBand, score_noshow

BOOKED = datetime(2016, 5, 2, 10, 0, tzinfo=UTC)


def test_far_ahead_booking_is_flagged_with_lead_time_as_first_reason(
    noshow_model: NoshowModel,
) -> None:
    score = score_noshow(
        noshow_model,
        scheduled_at=BOOKED,
        appointment_day=date(2016, 6, 15),
        age=23,
        sex="female",
        history=PatientHistory(
            earlier_appointments=3, earlier_noshows=2, days_since_last_appointment=5
        ),
    )

    assert score.band is not RiskBand.LOW
    assert score.top_reasons[0] == "booked 30+ days ahead"


def test_repeated_no_shows_are_named_in_plain_words(noshow_model: NoshowModel) -> None:
    score = score_noshow(
        noshow_model,
        scheduled_at=BOOKED,
        appointment_day=BOOKED.date(),
        age=40,
        sex="female",
        history=PatientHistory(
            earlier_appointments=3, earlier_noshows=3, days_since_last_appointment=4
        ),
    )

    assert "missed 3 of 3 earlier appointments" in score.top_reasons


def test_earlier_no_shows_raise_the_risk(noshow_model: NoshowModel) -> None:
    def with_history(missed: int) -> float:
        return score_noshow(
            noshow_model,
            scheduled_at=BOOKED,
            appointment_day=date(2016, 5, 16),
            age=40,
            sex="female",
            history=PatientHistory(
                earlier_appointments=2, earlier_noshows=missed, days_since_last_appointment=7
            ),
        ).probability

    assert with_history(0) < with_history(2)


def test_same_day_booking_is_lower_risk_and_not_blamed_on_lead_time(
    noshow_model: NoshowModel,
) -> None:
    same_day = score_noshow(
        noshow_model, scheduled_at=BOOKED, appointment_day=BOOKED.date(), age=70, sex="male"
    )
    far_ahead = score_noshow(
        noshow_model, scheduled_at=BOOKED, appointment_day=date(2016, 6, 15), age=70, sex="male"
    )

    assert same_day.probability < far_ahead.probability
    assert not [r for r in same_day.top_reasons if r.startswith("booked")]


def test_reasons_are_few_and_only_ones_that_raise_risk(noshow_model: NoshowModel) -> None:
    score = score_noshow(
        noshow_model,
        scheduled_at=BOOKED,
        appointment_day=date(2016, 5, 20),
        age=15,
        sex="female",
        welfare=True,
    )

    assert len(score.top_reasons) <= 3
    assert "no welfare benefit recorded" not in score.top_reasons
    assert 0.0 < score.probability < 1.0


def test_unknown_sex_and_age_are_scored_not_refused(noshow_model: NoshowModel) -> None:
    score = score_noshow(
        noshow_model, scheduled_at=BOOKED, appointment_day=date(2016, 5, 9), age=None, sex=None
    )

    assert 0.0 < score.probability < 1.0


def test_booking_after_the_appointment_is_refused(noshow_model: NoshowModel) -> None:
    with pytest.raises(InvalidInput) as error:
        score_noshow(
            noshow_model, scheduled_at=BOOKED, appointment_day=date(2016, 4, 1), age=30, sex="male"
        )

    assert error.value.field == "appointment_day"


def test_naive_booking_time_is_refused(noshow_model: NoshowModel) -> None:
    with pytest.raises(InvalidInput) as error:
        score_noshow(
            noshow_model,
            scheduled_at=datetime(2016, 5, 2, 10, 0),
            appointment_day=date(2016, 5, 9),
            age=30,
            sex="male",
        )

    assert error.value.field == "scheduled_at"
