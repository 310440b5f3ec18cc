"""Fixtures of the content tests: the shipped library (loaded once) and sample fields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from careloop.content.library import Library, load_library
from careloop.content.lint import VariantReport, lint_library


@pytest.fixture(scope="session")
def shipped() -> Library:
    return load_library()


@pytest.fixture
def fields() -> dict[str, object]:
    """Fields of one patient; the appointment is 19:30 UTC on 10 March 2026."""
    return {
        "first_name": "Rosa",
        "last_name": "Morales",
        "care_team_name": "Riverside Clinic",
        "clinic_phone": "(555) 010-0199",
        "booking_link": "https://rvcl.org/book",
        "portal_link": "https://rvcl.org/portal",
        "checkin_link": "https://rvcl.org/c/7Hq2",
        "readings_link": "https://rvcl.org/r/7Hq2",
        "tool_name": "Eat Well coach",
        "tool_link": "https://rvcl.org/t/eatwell",
        "appointment_at": datetime(2026, 3, 10, 19, 30, tzinfo=UTC),
        "appointment_place": "Riverside Clinic, 120 Main St",
        "days_without_readings": 3,
        "slot_choices": "1 for Tue 3:45 PM, 2 for Thu 5:00 PM",
        "pickup_at": datetime(2026, 3, 10, 18, 45, tzinfo=UTC),
        "ride_provider": "Careloop Rides",
        "telehealth_link": "https://rvcl.org/v/4f2a",
        "dose_time": "07:30",
        "days_left": 5,
        "form_link": "https://rvcl.org/f/3kq9x2.Hc7Q",
        "review_link": "https://g.page/r/rvcl/review",
        "review_site": "Google",
        "help_offer": "ride",
        "patient_first_name": "Ana",
    }


@pytest.fixture(scope="session")
def shipped_lint(shipped: Library) -> list[VariantReport]:
    """The lint of the shipped library, computed once for the session."""
    return lint_library(shipped)
