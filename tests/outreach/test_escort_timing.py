"""The caregiver who drives gets a visit reminder early enough to arrange the drive: inside
her window when that opens in time, never a quarter of an hour before the visit."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from careloop.models import Caregiver
from careloop.outreach.audience import ESCORT_LEAD, escort_send_time

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
WIFE = Caregiver(
    id="wife",
    patient_id="john",
    availability=[{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "15:30", "end": "20:00"}],
)


def test_a_day_of_reminder_is_not_pushed_to_a_window_after_the_visit_starts() -> None:
    visit = datetime(2026, 12, 7, 15, 45, tzinfo=NY)  # Monday 3:45 pm, her window opens 3:30
    due = datetime(2026, 12, 7, 9, 0, tzinfo=NY)  # the patient's day-of reminder

    at = escort_send_time(WIFE, zone=ZONE, start=due, visit_at=visit)

    assert at == due  # the morning, not 3:30 pm


def test_the_day_before_reminder_stays_in_her_window() -> None:
    visit = datetime(2026, 12, 7, 15, 45, tzinfo=NY)
    due = datetime(2026, 12, 4, 10, 0, tzinfo=NY)  # Friday before

    at = escort_send_time(WIFE, zone=ZONE, start=due, visit_at=visit)

    assert at == datetime(2026, 12, 4, 15, 30, tzinfo=NY)


@given(
    visit_hours=st.integers(min_value=0, max_value=24 * 10),
    lead_hours=st.integers(min_value=0, max_value=24 * 7),
)
def test_she_always_has_time_to_drive(visit_hours: int, lead_hours: int) -> None:
    visit = datetime(2026, 12, 7, 8, 0, tzinfo=NY) + timedelta(hours=visit_hours)
    due = visit - timedelta(hours=lead_hours)

    at = escort_send_time(WIFE, zone=ZONE, start=due, visit_at=visit)

    assert at is None or (due <= at <= visit - ESCORT_LEAD)
