"""No-show risk of FHIR Appointments: earlier misses and long lead times raise it."""

from __future__ import annotations

from datetime import date

from careloop.insights.risk.fhir_appointments import score_fhir_appointment
from careloop.insights.risk.model import NoshowModel


def _appointment(aid: str, *, created: str, start: str, status: str = "booked") -> dict:  # type: ignore[type-arg]
    return {
        "resourceType": "Appointment",
        "id": aid,
        "status": status,
        "created": created,
        "start": start,
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}],
    }


def test_a_patient_who_missed_visits_and_booked_long_ago_scores_higher(
    noshow_model: NoshowModel,
) -> None:
    missed = [
        _appointment(
            "a1", created="2025-01-02T09:00:00Z", start="2025-01-20T09:00:00Z", status="noshow"
        ),
        _appointment(
            "a2", created="2025-02-02T09:00:00Z", start="2025-02-20T09:00:00Z", status="noshow"
        ),
    ]
    risky = score_fhir_appointment(
        noshow_model,
        appointment=_appointment(
            "t1", created="2025-03-01T09:00:00Z", start="2025-04-20T09:00:00Z"
        ),
        patient_id="p1",
        birth_date=date(1998, 5, 1),
        gender="female",
        conditions=[],
        other_appointments=missed,
    )
    steady = score_fhir_appointment(
        noshow_model,
        appointment=_appointment(
            "t2", created="2025-04-20T08:00:00Z", start="2025-04-20T10:00:00Z"
        ),
        patient_id="p1",
        birth_date=date(1950, 5, 1),
        gender="female",
        conditions=[],
        other_appointments=[],
    )
    assert risky is not None
    assert steady is not None
    assert risky.probability > steady.probability
    assert any("missed" in r or "booked" in r for r in risky.top_reasons), risky.top_reasons


def test_an_appointment_without_a_start_is_not_scored(noshow_model: NoshowModel) -> None:
    appointment = {"resourceType": "Appointment", "id": "x", "status": "booked"}
    assert (
        score_fhir_appointment(
            noshow_model,
            appointment=appointment,
            patient_id="p1",
            birth_date=None,
            gender=None,
            conditions=[],
            other_appointments=[],
        )
        is None
    )
