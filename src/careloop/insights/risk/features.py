"""Features of a booking, computed only from what was known when it was booked.

The rule that keeps the model honest: an earlier appointment's *outcome* counts only if its
day ended before the current booking's day began (``AppointmentDay < date(ScheduledDay)``);
a same-day or later appointment's outcome was not known at booking and is never used. An
earlier appointment's mere *existence* counts if it was booked strictly before the current
one (the booking system knew it). Later appointments never influence an earlier row.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import numpy.typing as npt

from careloop.insights.risk.appointments_csv import BookedAppointment

NUMERIC_FEATURES: tuple[str, ...] = (
    "age",
    "female",
    "lead_days",
    "appointment_weekday",
    "welfare",
    "hypertension",
    "diabetes",
    "alcoholism",
    "handicap",
    "earlier_appointments",
    "earlier_noshows",
    "earlier_noshow_rate",
    "days_since_last_appointment",
    "open_bookings",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("neighbourhood",)
FEATURES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES
"""The feature schema; a saved model whose schema differs is refused."""


@dataclass(frozen=True, slots=True)
class PatientHistory:
    """What the clinic knew about the patient's earlier appointments at booking time."""

    earlier_appointments: int = 0
    earlier_noshows: int = 0
    days_since_last_appointment: int | None = None
    open_bookings: int = 0


def history_at_booking(
    target: BookedAppointment, others: Iterable[BookedAppointment]
) -> PatientHistory:
    """The history of ``target``'s patient as known when ``target`` was booked."""
    booking_day = target.scheduled_at.date()
    earlier = 0
    noshows = 0
    last_day = None
    open_bookings = 0
    for other in others:
        if other.appointment_id == target.appointment_id:
            continue
        if other.patient_id != target.patient_id:
            continue
        if other.appointment_day < booking_day:
            if other.no_show is None:
                continue
            earlier += 1
            noshows += int(other.no_show)
            if last_day is None or other.appointment_day > last_day:
                last_day = other.appointment_day
        elif other.scheduled_at < target.scheduled_at:
            open_bookings += 1
    return PatientHistory(
        earlier_appointments=earlier,
        earlier_noshows=noshows,
        days_since_last_appointment=None if last_day is None else (booking_day - last_day).days,
        open_bookings=open_bookings,
    )


def histories_at_booking(
    targets: Sequence[BookedAppointment], *, history: Iterable[BookedAppointment] = ()
) -> list[PatientHistory]:
    """:func:`history_at_booking` for many targets, looking at targets and extra history."""
    by_patient: dict[str, dict[str, BookedAppointment]] = defaultdict(dict)
    for appointment in history:
        by_patient[appointment.patient_id][appointment.appointment_id] = appointment
    for appointment in targets:
        by_patient[appointment.patient_id][appointment.appointment_id] = appointment
    return [
        history_at_booking(target, by_patient[target.patient_id].values()) for target in targets
    ]


def booking_row(
    *,
    age: int | None,
    female: bool | None,
    scheduled_at: datetime,
    appointment_day: date,
    welfare: bool,
    hypertension: bool,
    diabetes: bool,
    alcoholism: bool,
    handicap: int,
    neighbourhood: str,
    history: PatientHistory,
) -> list[float | str]:
    """One model input row in :data:`FEATURES` order (NaN where unknown)."""
    earlier_rate = (
        history.earlier_noshows / history.earlier_appointments
        if history.earlier_appointments
        else math.nan
    )
    return [
        float(age) if age is not None else math.nan,
        float(female) if female is not None else math.nan,
        float((appointment_day - scheduled_at.date()).days),
        float(appointment_day.weekday()),
        float(welfare),
        float(hypertension),
        float(diabetes),
        float(alcoholism),
        float(handicap),
        float(history.earlier_appointments),
        float(history.earlier_noshows),
        earlier_rate,
        float(history.days_since_last_appointment)
        if history.days_since_last_appointment is not None
        else math.nan,
        float(history.open_bookings),
        neighbourhood.strip().upper(),
    ]


def feature_row(appointment: BookedAppointment, history: PatientHistory) -> list[float | str]:
    """:func:`booking_row` of a parsed appointment."""
    return booking_row(
        age=appointment.age,
        female=appointment.female,
        scheduled_at=appointment.scheduled_at,
        appointment_day=appointment.appointment_day,
        welfare=appointment.welfare,
        hypertension=appointment.hypertension,
        diabetes=appointment.diabetes,
        alcoholism=appointment.alcoholism,
        handicap=appointment.handicap,
        neighbourhood=appointment.neighbourhood,
        history=history,
    )


def feature_matrix(
    targets: Sequence[BookedAppointment], *, history: Iterable[BookedAppointment] = ()
) -> npt.NDArray[np.object_]:
    """Model inputs for ``targets`` (rows in the same order), an object array."""
    histories = histories_at_booking(targets, history=history)
    return rows_matrix([feature_row(t, h) for t, h in zip(targets, histories, strict=True)])


def rows_matrix(rows: Sequence[Sequence[float | str]]) -> npt.NDArray[np.object_]:
    """Feature rows as the object array the model takes (mixed numbers and categories, so
    ``np.array`` cannot be left to guess the dtype)."""
    matrix = np.empty((len(rows), len(FEATURES)), dtype=object)
    for index, row in enumerate(rows):
        matrix[index, :] = row
    return matrix


def outcomes(targets: Sequence[BookedAppointment]) -> npt.NDArray[np.int_]:
    """1 for a no-show, 0 for attended; every target must have a known outcome."""
    values = [t.no_show for t in targets]
    if any(v is None for v in values):
        raise ValueError("every appointment needs a known outcome")
    return np.asarray(values, dtype=int)
