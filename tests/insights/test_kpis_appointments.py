"""No-show, cancellation and reschedule rates from FHIR Appointments."""

from __future__ import annotations

import pytest
from insights_payloads import appointment

from careloop.insights.kpis.appointments import appointment_kpis

MONDAY = "2026-03-02T09:00:00+00:00"


def test_noshow_rate_counts_only_settled_appointments() -> None:
    resources = [
        appointment("a1", status="fulfilled", start=MONDAY),
        appointment("a2", status="fulfilled", start=MONDAY, patient="p2"),
        appointment("a3", status="noshow", start=MONDAY, patient="p3"),
        appointment("a4", status="booked", start="2026-03-09T09:00:00+00:00", patient="p4"),
        appointment("a5", status="proposed", start=MONDAY, patient="p5"),
    ]

    kpis = appointment_kpis(resources)

    assert (kpis.bookings, kpis.settled, kpis.open, kpis.noshows) == (4, 3, 1, 1)
    assert kpis.noshow_rate == pytest.approx(1 / 3)


def test_advance_and_late_cancellations_are_told_apart() -> None:
    resources = [
        appointment(
            "early",
            status="cancelled",
            start=MONDAY,
            cancelled_at="2026-02-27T10:00:00+00:00",
        ),
        appointment(
            "late",
            status="cancelled",
            start=MONDAY,
            patient="p2",
            last_updated="2026-03-02T07:30:00+00:00",
        ),
        appointment("unknown", status="cancelled", start=MONDAY, patient="p3"),
        appointment("kept", status="fulfilled", start=MONDAY, patient="p4"),
    ]

    kpis = appointment_kpis(resources)

    assert (kpis.advance_cancellations, kpis.late_cancellations) == (1, 1)
    assert kpis.cancellation_timing_unknown == 1
    assert kpis.cancellation_rate == pytest.approx(3 / 4)
    assert kpis.advance_cancellation_rate == pytest.approx(1 / 4)


def test_a_new_booking_soon_after_cancelling_is_a_reschedule() -> None:
    resources = [
        appointment(
            "old", status="cancelled", start=MONDAY, cancelled_at="2026-02-27T10:00:00+00:00"
        ),
        appointment(
            "new",
            status="booked",
            start="2026-03-05T09:00:00+00:00",
            created="2026-02-27T10:05:00+00:00",
        ),
        appointment(
            "gone",
            status="cancelled",
            start=MONDAY,
            patient="p2",
            cancelled_at="2026-02-20T10:00:00+00:00",
        ),
        appointment(
            "much-later",
            status="booked",
            start="2026-05-05T09:00:00+00:00",
            patient="p2",
            created="2026-04-20T10:00:00+00:00",
        ),
    ]

    kpis = appointment_kpis(resources)

    assert kpis.rescheduled == 1
    assert kpis.reschedule_rate == pytest.approx(1 / 2)


def test_appointments_inside_a_bundle_are_found() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": appointment("a1", status="noshow", start=MONDAY)}],
    }

    assert appointment_kpis([bundle]).noshows == 1


def test_no_appointments_give_no_rates() -> None:
    kpis = appointment_kpis([])

    assert kpis.noshow_rate is None
    assert kpis.reschedule_rate is None
