"""No-show risk of a FHIR ``Appointment``, from what the record knew when it was booked.

Journeys branch on it (a third reminder for high risk) and the console shows it with its
reasons. The features are the model's own (``insights.risk.features``): age and sex from the
patient, lead time from ``Appointment.created`` to ``start``, hypertension and diabetes from
``Condition`` codes, and the patient's *earlier* appointments (only those that started
before this one was booked count, exactly as in training).

The model is loaded once per process from the configured models folder
(``CARELOOP_MODELS_DIR``, default ``models/`` in the data directory, ``CARELOOP_DATA_DIR``),
written by ``careloop risk train noshow``; without a trained model there is no score and
risk branches do not apply, which is said in the enrollment's fields.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict, Unpack

from careloop.errors import CareloopError
from careloop.fhirdata.codings import has_code
from careloop.fhirdata.dates import age_on, instant
from careloop.insights.risk.appointments_csv import BookedAppointment
from careloop.insights.risk.features import history_at_booking
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.scoring import (
    RiskScore,
    explain_row,
    noshow_probabilities,
    noshow_row,
    risk_band,
)
from careloop.settings import get_settings

HYPERTENSION = frozenset({"38341003", "59621000", "I10"})
DIABETES = frozenset({"44054006", "73211009", "E11.9", "E11"})


@lru_cache(maxsize=4)
def _load(directory: str) -> NoshowModel | None:
    from careloop.insights.risk.artifacts import load_model

    try:
        return load_model(directory=Path(directory))
    except CareloopError:
        return None


def available_model() -> NoshowModel | None:
    """The trained no-show model of this installation, or None when none was trained."""
    return _load(str(get_settings().resolved_models_dir()))


def _booked(
    resource: Mapping[str, Any], *, patient_id: str, female: bool
) -> BookedAppointment | None:
    start = instant(resource.get("start"))
    created = instant(resource.get("created")) or start
    if start is None or created is None:
        return None
    status = resource.get("status")
    return BookedAppointment(
        patient_id=patient_id,
        appointment_id=str(resource.get("id", "")),
        female=female,
        scheduled_at=created,
        appointment_day=start.date(),
        age=None,
        neighbourhood="",
        welfare=False,
        hypertension=False,
        diabetes=False,
        alcoholism=False,
        handicap=0,
        no_show=True if status == "noshow" else False if status == "fulfilled" else None,
    )


def _has(conditions: Iterable[Mapping[str, Any]], codes: frozenset[str]) -> bool:
    return any(has_code(condition.get("code"), codes) for condition in conditions)


class PatientFacts(TypedDict):
    """What the record says of the patient whose booking is scored."""

    patient_id: str
    birth_date: date | None
    gender: str | None
    conditions: Sequence[Mapping[str, Any]]
    other_appointments: Sequence[Mapping[str, Any]]


def score_fhir_appointment(
    model: NoshowModel, *, appointment: Mapping[str, Any], **facts: Unpack[PatientFacts]
) -> RiskScore | None:
    """The booking's risk, or None when the appointment lacks a start time."""
    row = _fhir_row(appointment, **facts)
    if row is None:
        return None
    probability, reasons = explain_row(model, row)
    return RiskScore(
        probability=probability, band=risk_band(model, probability), top_reasons=reasons
    )


def fhir_appointment_probabilities(
    model: NoshowModel,
    *,
    appointments: Sequence[Mapping[str, Any]],
    **facts: Unpack[PatientFacts],
) -> list[float | None]:
    """Each possible booking's probability (None without a start), in one call of the model
    and without reasons: for ranking many candidate bookings of one patient at once."""
    rows = [_fhir_row(a, **facts) for a in appointments]
    scored = iter(noshow_probabilities(model, [r for r in rows if r is not None]))
    return [None if r is None else next(scored) for r in rows]


def _fhir_row(
    appointment: Mapping[str, Any], **facts: Unpack[PatientFacts]
) -> list[float | str] | None:
    patient_id, gender, birth_date = facts["patient_id"], facts["gender"], facts["birth_date"]
    conditions, other_appointments = list(facts["conditions"]), facts["other_appointments"]
    female = gender == "female"
    target = _booked(appointment, patient_id=patient_id, female=female)
    if target is None:
        return None
    others = [
        b
        for r in other_appointments
        if r.get("id") != appointment.get("id")
        and (b := _booked(r, patient_id=patient_id, female=female)) is not None
    ]
    booked = target.scheduled_at.date()
    age = age_on(birth_date, booked) if birth_date is not None else None
    return noshow_row(
        scheduled_at=target.scheduled_at,
        appointment_day=max(target.appointment_day, booked),
        age=age if age is None or 0 <= age <= 115 else None,
        sex=gender,
        hypertension=_has(conditions, HYPERTENSION),
        diabetes=_has(conditions, DIABETES),
        history=history_at_booking(target, others),
    )
