"""What the record says of a patient for scoring their bookings' no-show risk.

One read for the two places that score: the journey's risk branch (one booking, the
patient's other appointments already at hand from the batch) and the slot finder (many
possible bookings of one patient). Age and sex come from the patient, hypertension and
diabetes from their ``Condition`` resources, history from their ``Appointment`` resources.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from careloop.insights.risk.fhir_appointments import PatientFacts
from careloop.records.resources import patient_resources
from careloop.records.service import get_patient


def noshow_facts(
    session: Session,
    *,
    patient_id: str,
    other_appointments: Sequence[Mapping[str, Any]] | None = None,
) -> PatientFacts:
    """The patient's facts for :func:`score_fhir_appointment` and
    :func:`fhir_appointment_probabilities`; the record's appointments are read only when
    ``other_appointments`` is not given (raises ``NotFound`` for an unknown patient)."""
    patient = get_patient(session, patient_id)
    types = ("Condition",) if other_appointments is not None else ("Condition", "Appointment")
    records = patient_resources(session, patient_id=patient_id, resource_types=types)
    if other_appointments is None:
        other_appointments = [r for r in records if r["resourceType"] == "Appointment"]
    return PatientFacts(
        patient_id=patient_id,
        birth_date=patient.birth_date,
        gender=patient.gender,
        conditions=[r for r in records if r["resourceType"] == "Condition"],
        other_appointments=other_appointments,
    )
