"""Invariants of the learned reminder time and the timing parser (pure, property-based)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from careloop.medications.learning import learned_time, out_of_quiet_hours
from careloop.medications.timing import dosage_slots, timing_slots
from careloop.personalize.profile import QuietHours

minutes = st.integers(min_value=0, max_value=24 * 60 - 1)
quiet_hours = st.builds(QuietHours, minutes, minutes)


@given(default=minutes, taken=st.lists(minutes, max_size=30), quiet=quiet_hours)
def test_a_reminder_is_never_in_quiet_hours(
    default: int, taken: list[int], quiet: QuietHours
) -> None:
    learned = learned_time(default_minute=default, timing="BID", taken_minutes=taken, quiet=quiet)
    assert 0 <= learned.minute < 24 * 60
    assert not quiet.contains(learned.minute)


@given(routine=st.integers(min_value=6 * 60, max_value=11 * 60), outlier=minutes)
def test_one_odd_dose_does_not_move_the_reminder(routine: int, outlier: int) -> None:
    taken = [routine] * 6 + [outlier]
    learned = learned_time(
        default_minute=8 * 60, timing="BID", taken_minutes=taken, quiet=QuietHours(0, 0)
    )
    assert learned.minute == routine
    assert (
        learned.basis
        == f"learned from 7 confirmations, median {routine // 60:02d}:{routine % 60:02d}"
    )


def test_around_midnight_the_median_stays_near_midnight() -> None:
    learned = learned_time(
        default_minute=23 * 60,
        timing="HS",
        taken_minutes=[23 * 60 + 50, 10, 20],
        quiet=QuietHours(0, 0),
    )
    assert learned.minute == 10


@given(minute=minutes, quiet=quiet_hours)
def test_out_of_quiet_hours_moves_to_an_edge(minute: int, quiet: QuietHours) -> None:
    moved = out_of_quiet_hours(minute, quiet)
    if not quiet.contains(minute):
        assert moved == minute
    else:
        assert moved in (quiet.end_minute, (quiet.start_minute - 1) % (24 * 60))


def test_timings_of_the_issue() -> None:
    def slots(timing: dict[str, object]) -> list[tuple[str, int]]:
        return [(s.slot, s.minute) for s in timing_slots(timing)[0]]

    assert slots({"code": {"coding": [{"code": "BID"}]}}) == [("morning", 480), ("evening", 1200)]
    assert slots({"code": {"text": "tid"}}) == [
        ("morning", 480),
        ("afternoon", 840),
        ("evening", 1200),
    ]
    assert slots({"repeat": {"when": ["HS"]}}) == [("bedtime", 1290)]
    assert slots({"repeat": {"when": ["ACM", "PCV"]}}) == [("breakfast", 450), ("dinner", 1140)]
    assert slots({"repeat": {"timeOfDay": ["07:15:00", "19:45:00"]}}) == [
        ("07:15", 435),
        ("19:45", 1185),
    ]
    assert slots({"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}) == [
        ("morning", 480),
        ("evening", 1200),
    ]
    assert dosage_slots([{"asNeededBoolean": True}]) is None
    default = dosage_slots([{"text": "one tablet"}])
    assert default is not None
    assert [(s.slot, s.minute) for s in default[0]] == [("morning", 480)]
