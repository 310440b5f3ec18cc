"""Score one booking: a calibrated probability, a band, and the top reasons in plain words.

Reasons come from a one-row perturbation: each group of features is set back to a typical
booking's value (the training median; "no earlier appointments"; an unknown neighbourhood)
and the drop in predicted risk is that group's contribution. Only groups that *raise* the risk
by at least half a percentage point are named, largest first. This is an honest, local
explanation of this model's output, not a causal claim about the patient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import NotRequired, TypedDict, Unpack

from careloop.errors import InvalidInput
from careloop.insights.risk.appointments_csv import MAX_AGE
from careloop.insights.risk.features import FEATURES, PatientHistory, booking_row, rows_matrix
from careloop.insights.risk.model import NoshowModel
from careloop.records.demographics import age_band

MIN_CONTRIBUTION = 0.005
MAX_REASONS = 3
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

FEATURE_GROUPS: dict[str, tuple[str, ...]] = {
    "lead": ("lead_days",),
    "history": (
        "earlier_appointments",
        "earlier_noshows",
        "earlier_noshow_rate",
        "days_since_last_appointment",
    ),
    "open_bookings": ("open_bookings",),
    "age": ("age",),
    "sex": ("female",),
    "weekday": ("appointment_weekday",),
    "welfare": ("welfare",),
    "hypertension": ("hypertension",),
    "diabetes": ("diabetes",),
    "alcoholism": ("alcoholism",),
    "handicap": ("handicap",),
    "neighbourhood": ("neighbourhood",),
}


class RiskBand(StrEnum):
    """``high``: at or above the operating threshold (the flagged share); ``medium``: above
    the training no-show rate; ``low``: below it."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class RiskScore:
    """A booking's no-show risk as journeys and the console use it."""

    probability: float
    band: RiskBand
    top_reasons: list[str] = field(default_factory=list)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _phrase(group: str, row: dict[str, float | str]) -> str:
    if group == "lead":
        days = int(float(row["lead_days"]))
        if days == 0:
            return "booked for the same day"
        if days >= 30:
            return "booked 30+ days ahead"
        return f"booked {_plural(days, 'day')} ahead"
    if group == "history":
        seen = int(float(row["earlier_appointments"]))
        missed = int(float(row["earlier_noshows"]))
        if missed:
            return f"missed {missed} of {_plural(seen, 'earlier appointment')}"
        if seen:
            return f"attended all {_plural(seen, 'earlier appointment')}"
        return "no earlier appointments on record"
    if group == "open_bookings":
        count = int(float(row["open_bookings"]))
        if count:
            return f"{_plural(count, 'other appointment')} already booked"
        return "no other appointments booked"
    if group == "age":
        age = float(row["age"])
        return "age not recorded" if math.isnan(age) else f"aged {age_band(int(age))}"
    if group == "sex":
        female = float(row["female"])
        return "sex not recorded" if math.isnan(female) else ("female" if female else "male")
    if group == "weekday":
        return f"appointment on a {WEEKDAYS[int(float(row['appointment_weekday']))]}"
    flags = {
        "welfare": ("receives Bolsa Família welfare", "no welfare benefit recorded"),
        "hypertension": ("has hypertension", "no hypertension recorded"),
        "diabetes": ("has diabetes", "no diabetes recorded"),
        "alcoholism": ("alcohol use disorder recorded", "no alcohol use disorder recorded"),
    }
    if group in flags:
        yes, no = flags[group]
        return yes if float(row[group]) else no
    if group == "handicap":
        count = int(float(row["handicap"]))
        return _plural(count, "recorded disability") if count else "no disability recorded"
    if group == "neighbourhood":
        if row["neighbourhood"]:
            return "lives in a neighbourhood where more appointments are missed"
        return "neighbourhood not known to the model"
    raise AssertionError(f"unknown feature group {group}")


def explain_row(model: NoshowModel, row: list[float | str]) -> tuple[float, list[str]]:
    """The probability of one feature row and its top reasons (see module docstring)."""
    reference = model.sidecar.reference
    candidates: list[list[float | str]] = [row]
    groups = list(FEATURE_GROUPS)
    for group in groups:
        changed = list(row)
        for name in FEATURE_GROUPS[group]:
            ref = reference.get(name)
            changed[FEATURES.index(name)] = math.nan if ref is None else ref
        candidates.append(changed)
    p = model.predict(rows_matrix(candidates))
    probability = float(p[0])
    contributions = sorted(
        ((probability - float(p[i + 1]), group) for i, group in enumerate(groups)),
        reverse=True,
    )
    named = dict(zip(FEATURES, row, strict=True))
    reasons = [
        _phrase(group, named)
        for contribution, group in contributions[:MAX_REASONS]
        if contribution >= MIN_CONTRIBUTION
    ]
    return probability, reasons


def risk_band(model: NoshowModel, probability: float) -> RiskBand:
    """The band of a probability under this model's operating point."""
    if probability >= model.sidecar.operating_threshold:
        return RiskBand.HIGH
    if probability >= model.sidecar.base_rate:
        return RiskBand.MEDIUM
    return RiskBand.LOW


class Booking(TypedDict):
    """What is known of one booking when it is made (:func:`score_noshow`, :func:`noshow_row`).

    ``sex`` takes FHIR administrative gender (``female``/``male``; anything else is treated as
    not recorded). ``history`` is the patient's earlier appointments as known at booking
    (:func:`careloop.insights.risk.features.history_at_booking` computes it).
    """

    scheduled_at: datetime
    appointment_day: date
    age: int | None
    sex: str | None
    neighbourhood: NotRequired[str | None]
    welfare: NotRequired[bool]
    hypertension: NotRequired[bool]
    diabetes: NotRequired[bool]
    alcoholism: NotRequired[bool]
    handicap: NotRequired[int]
    history: NotRequired[PatientHistory | None]


def score_noshow(model: NoshowModel, **booking: Unpack[Booking]) -> RiskScore:
    """Score one booking from what is known when it is made, with its top reasons."""
    probability, reasons = explain_row(model, noshow_row(**booking))
    return RiskScore(
        probability=probability, band=risk_band(model, probability), top_reasons=reasons
    )


def noshow_probabilities(model: NoshowModel, rows: list[list[float | str]]) -> list[float]:
    """The probability of each feature row (:func:`noshow_row`), in one call of the model and
    without reasons: for ranking many possible bookings at once."""
    if not rows:
        return []
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    # A few rows: one thread. On a busy machine the booster's OpenMP threads made this 25x
    # slower (600 ms instead of 25 ms for 15 rows at load 12 on 2 cores).
    with threadpool_limits(limits=1):
        return [float(p) for p in model.predict(rows_matrix(rows))]


def noshow_row(**booking: Unpack[Booking]) -> list[float | str]:
    """One booking's feature row, checked."""
    scheduled_at, appointment_day = booking["scheduled_at"], booking["appointment_day"]
    age, sex, history = booking["age"], booking["sex"], booking.get("history")
    handicap = booking.get("handicap", 0)
    if scheduled_at.tzinfo is None:
        raise InvalidInput("scheduled_at must be timezone-aware", field="scheduled_at")
    if appointment_day < scheduled_at.date():
        raise InvalidInput("the appointment is before its booking", field="appointment_day")
    if age is not None and not 0 <= age <= MAX_AGE:
        raise InvalidInput(f"age must be between 0 and {MAX_AGE}", field="age")
    if not 0 <= handicap <= 4:
        raise InvalidInput("handicap must be a count from 0 to 4", field="handicap")
    if history is not None and history.earlier_noshows > history.earlier_appointments:
        raise InvalidInput("more earlier no-shows than earlier appointments", field="history")
    female = {"female": True, "male": False}.get((sex or "").lower())
    return booking_row(
        age=age,
        female=female,
        scheduled_at=scheduled_at,
        appointment_day=appointment_day,
        welfare=booking.get("welfare", False),
        hypertension=booking.get("hypertension", False),
        diabetes=booking.get("diabetes", False),
        alcoholism=booking.get("alcoholism", False),
        handicap=handicap,
        neighbourhood=booking.get("neighbourhood") or "",
        history=history or PatientHistory(),
    )
