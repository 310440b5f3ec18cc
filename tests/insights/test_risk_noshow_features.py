"""Booking-time features: earlier outcomes only, never later ones."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from careloop.insights.risk.appointments_csv import BookedAppointment, parse_rows
from careloop.insights.risk.features import (
    FEATURES,
    feature_matrix,
    history_at_booking,
)


def _appointment(
    appointment_id: str,
    *,
    scheduled: datetime,
    day: date,
    no_show: bool | None = False,
    patient_id: str = "p1",
) -> BookedAppointment:
    return BookedAppointment(
        patient_id=patient_id,
        appointment_id=appointment_id,
        female=True,
        scheduled_at=scheduled,
        appointment_day=day,
        age=40,
        neighbourhood="CENTRO",
        welfare=False,
        hypertension=False,
        diabetes=False,
        alcoholism=False,
        handicap=0,
        no_show=no_show,
    )


BOOKED = datetime(2016, 5, 10, 9, 30, tzinfo=UTC)
TARGET = _appointment("target", scheduled=BOOKED, day=date(2016, 5, 20))


def test_earlier_missed_appointment_counts() -> None:
    earlier = _appointment(
        "a", scheduled=BOOKED - timedelta(days=20), day=date(2016, 5, 2), no_show=True
    )

    history = history_at_booking(TARGET, [TARGET, earlier])

    assert (history.earlier_appointments, history.earlier_noshows) == (1, 1)
    assert history.days_since_last_appointment == 8


def test_same_day_outcome_is_not_known_at_booking() -> None:
    same_day = _appointment(
        "a", scheduled=BOOKED - timedelta(days=3), day=BOOKED.date(), no_show=True
    )

    history = history_at_booking(TARGET, [same_day])

    assert history.earlier_noshows == 0
    assert history.earlier_appointments == 0
    assert history.open_bookings == 1


def test_appointment_booked_later_is_invisible() -> None:
    booked_after = _appointment(
        "a", scheduled=BOOKED + timedelta(hours=1), day=date(2016, 5, 12), no_show=True
    )

    history = history_at_booking(TARGET, [booked_after])

    assert history == history_at_booking(TARGET, [])


def test_other_patients_do_not_count() -> None:
    stranger = _appointment(
        "a", scheduled=BOOKED - timedelta(days=9), day=date(2016, 5, 2), patient_id="p2"
    )

    assert history_at_booking(TARGET, [stranger]).earlier_appointments == 0


def test_no_feature_is_named_after_the_outcome_or_a_future_count() -> None:
    forbidden = ("sms", "total", "future", "later", "no_show_rate_all", "outcome")

    assert not [name for name in FEATURES if any(word in name.lower() for word in forbidden)]


_days = st.integers(min_value=0, max_value=40)


@st.composite
def _later_appointments(draw: st.DrawFn) -> list[BookedAppointment]:
    """Appointments of the same patient that were booked after TARGET."""
    later = []
    for index in range(draw(st.integers(min_value=1, max_value=6))):
        offset = draw(st.integers(min_value=1, max_value=60 * 24 * 30))
        scheduled = BOOKED + timedelta(minutes=offset)
        day = scheduled.date() + timedelta(days=draw(_days))
        later.append(
            _appointment(f"l{index}", scheduled=scheduled, day=day, no_show=draw(st.booleans()))
        )
    return later


@settings(max_examples=60, deadline=None)
@given(later=_later_appointments(), earlier_outcome=st.booleans())
def test_later_appointments_never_change_an_earlier_bookings_features(
    later: list[BookedAppointment], earlier_outcome: bool
) -> None:
    earlier = _appointment(
        "e", scheduled=BOOKED - timedelta(days=30), day=date(2016, 4, 29), no_show=earlier_outcome
    )

    alone = feature_matrix([TARGET], history=[earlier])[0]
    with_future = feature_matrix([TARGET, *later], history=[earlier])[0]

    assert [_same(a, b) for a, b in zip(alone, with_future, strict=True)] == [True] * len(FEATURES)


@settings(max_examples=30, deadline=None)
@given(flips=st.lists(st.booleans(), min_size=6, max_size=6))
def test_flipping_later_outcomes_leaves_features_unchanged(flips: list[bool]) -> None:
    later = [
        _appointment(
            f"l{i}",
            scheduled=BOOKED + timedelta(days=i + 1),
            day=BOOKED.date() + timedelta(days=i + 2),
            no_show=flip,
        )
        for i, flip in enumerate(flips)
    ]
    flipped = [replace(a, no_show=not a.no_show) for a in later]

    first = feature_matrix([TARGET, *later])[0]
    second = feature_matrix([TARGET, *flipped])[0]

    assert all(_same(a, b) for a, b in zip(first, second, strict=True))


def test_row_order_does_not_change_features(noshow_sample: list[BookedAppointment]) -> None:
    rows = noshow_sample[:3000]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)

    by_id = dict(zip((a.appointment_id for a in rows), feature_matrix(rows).tolist(), strict=True))
    again = dict(
        zip((a.appointment_id for a in shuffled), feature_matrix(shuffled).tolist(), strict=True)
    )

    assert all(
        all(_same(x, y) for x, y in zip(by_id[key], again[key], strict=True)) for key in by_id
    )


def test_bad_rows_are_reported_by_line_and_skipped() -> None:
    good = {
        "PatientId": "29872499824296",
        "AppointmentID": "1",
        "Gender": "F",
        "ScheduledDay": "2016-04-29T18:38:08Z",
        "AppointmentDay": "2016-04-29T00:00:00Z",
        "Age": "62",
        "Neighbourhood": "JARDIM DA PENHA",
        "Scholarship": "0",
        "Hipertension": "1",
        "Diabetes": "0",
        "Alcoholism": "0",
        "Handcap": "0",
        "SMS_received": "0",
        "No-show": "No",
    }
    rows = [
        good,
        {**good, "AppointmentID": "2", "ScheduledDay": "yesterday"},
        {**good, "AppointmentID": "3", "AppointmentDay": "2016-04-28T00:00:00Z"},
        {**good, "AppointmentID": "4", "Age": "-1"},
        {**good, "AppointmentID": "4"},
    ]

    parsed = parse_rows(rows)

    assert [a.appointment_id for a in parsed.appointments] == ["1", "4"]
    assert parsed.appointments[1].age is None
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (3, "ScheduledDay is not an ISO date-time"),
        (4, "ScheduledDay is after AppointmentDay"),
        (6, "AppointmentID repeats an earlier row"),
    ]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b
