"""Train and evaluate the no-show risk model on a time split.

Split (by AppointmentDay, never at random: a random split lets the model learn the weeks it
is tested on):

    |------------ fit ------------|-- calibration --|---- test ----|
     gradient boosting learns here  isotonic/Platt     figures are
                                    map fitted here    measured here

The history features of every row come from the whole file but only from what was known when
that row was booked (see :mod:`careloop.insights.risk.features`), so test rows may use the
training weeks' outcomes, as a clinic would, and never the reverse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import sklearn
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import TargetEncoder

from careloop import __version__
from careloop.errors import InvalidInput
from careloop.insights.fairness import group_fairness
from careloop.insights.risk.appointments_csv import BookedAppointment
from careloop.insights.risk.features import (
    CATEGORICAL_FEATURES,
    FEATURES,
    NUMERIC_FEATURES,
    feature_matrix,
    outcomes,
)
from careloop.insights.risk.metrics import discrimination_and_calibration, operating_point
from careloop.insights.risk.model import CALIBRATION_METHODS, NoshowModel, Period, Sidecar
from careloop.records.demographics import age_band

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "learning_rate": 0.05,
    "max_iter": 300,
    "max_leaf_nodes": 15,
    "min_samples_leaf": 200,
    "l2_regularization": 1.0,
}
EXCLUDED_COLUMNS = {
    "SMS_received": (
        "confounded by lead time: reminders were only sent for bookings made days ahead, "
        "which are the ones most often missed; its association is not a channel effect"
    ),
    "PatientId": "an identifier; only used to link a patient's earlier appointments",
    "AppointmentID": "an identifier",
}
LEAKAGE_AUC = 0.85
"""Above this on a time split, suspect leakage (an honest model on this data sits near 0.74)."""


@dataclass(frozen=True, slots=True)
class TimeSplit:
    """Row indices of the three periods (into the list given to :func:`time_split`)."""

    fit: list[int]
    calibration: list[int]
    test: list[int]


def time_split(
    appointments: Sequence[BookedAppointment], *, test_days: int, calibration_days: int
) -> TimeSplit:
    """Split by appointment day: the last ``test_days`` days are the test period, the
    ``calibration_days`` before them calibrate, everything earlier fits."""
    if test_days < 1 or calibration_days < 1:
        raise InvalidInput("test and calibration periods need at least one day", field="days")
    last = max(a.appointment_day for a in appointments)
    test_start = last - timedelta(days=test_days - 1)
    calibration_start = test_start - timedelta(days=calibration_days)
    split = TimeSplit(fit=[], calibration=[], test=[])
    for index, appointment in enumerate(appointments):
        if appointment.appointment_day >= test_start:
            split.test.append(index)
        elif appointment.appointment_day >= calibration_start:
            split.calibration.append(index)
        else:
            split.fit.append(index)
    for name, rows in (
        ("fit", split.fit),
        ("calibration", split.calibration),
        ("test", split.test),
    ):
        labels = {appointments[i].no_show for i in rows}
        if labels != {True, False}:
            raise InvalidInput(
                f"the {name} period needs both attended and missed appointments; "
                "the file covers too few days for this split",
                field="csv",
            )
    return split


def _period(appointments: Sequence[BookedAppointment], rows: Sequence[int]) -> Period:
    days = [appointments[i].appointment_day for i in rows]
    return Period(start=min(days), end=max(days), n=len(rows))


def build_estimator(*, hyperparameters: dict[str, Any], random_state: int) -> Pipeline:
    """Target-encoded neighbourhood (cross-fitted on training rows only) + gradient boosting."""
    encode = ColumnTransformer(
        [
            (
                "neighbourhood",
                TargetEncoder(target_type="binary", random_state=random_state),
                [FEATURES.index(name) for name in CATEGORICAL_FEATURES],
            ),
            ("numeric", "passthrough", [FEATURES.index(name) for name in NUMERIC_FEATURES]),
        ]
    )
    boost = HistGradientBoostingClassifier(
        **hyperparameters, early_stopping=False, random_state=random_state
    )
    return Pipeline([("encode", encode), ("boost", boost)])


def _reference(matrix: npt.NDArray[np.object_]) -> dict[str, float | str | None]:
    """A typical booking, the baseline against which a row's reasons are measured."""
    reference: dict[str, float | str | None] = {}
    for column, name in enumerate(FEATURES):
        if name in CATEGORICAL_FEATURES:
            reference[name] = ""  # unseen category: the encoder's overall rate
            continue
        values = matrix[:, column].astype(float)
        values = values[~np.isnan(values)]
        if name in ("earlier_noshow_rate", "days_since_last_appointment"):
            reference[name] = None  # "no earlier appointment"
        elif name == "appointment_weekday":
            counts = np.bincount(values.astype(int), minlength=7)
            reference[name] = float(np.argmax(counts))
        else:
            reference[name] = float(np.median(values)) if len(values) else None
    return reference


def fairness_tables(
    *,
    appointments: Sequence[BookedAppointment],
    y: npt.NDArray[np.int_],
    p: npt.NDArray[np.float64],
    threshold: float,
    min_ratio: float,
) -> dict[str, Any]:
    """Flag rates and sensitivity by sex and by age band (small cells suppressed)."""
    selected = (p >= threshold).tolist()
    missed = (y == 1).tolist()
    scores = p.tolist()
    by_sex = group_fairness(
        attribute="sex",
        groups=["female" if a.female else "male" for a in appointments],
        selected=selected,
        outcomes=missed,
        scores=scores,
        min_ratio=min_ratio,
    )
    by_age = group_fairness(
        attribute="age_band",
        groups=[age_band(a.age) for a in appointments],
        selected=selected,
        outcomes=missed,
        scores=scores,
        min_ratio=min_ratio,
    )
    return {"sex": by_sex.export(), "age_band": by_age.export()}


def evaluate_predictions(
    *,
    appointments: Sequence[BookedAppointment],
    p: npt.NDArray[np.float64],
    threshold: float,
    min_ratio: float,
) -> dict[str, Any]:
    """All figures for predictions ``p`` on ``appointments`` (outcomes known)."""
    y = outcomes(appointments)
    metrics: dict[str, Any] = discrimination_and_calibration(y=y, p=p)
    point = operating_point(y=y, p=p, threshold=threshold)
    metrics["operating_point"] = {
        "threshold": point.threshold,
        "flagged": point.flagged,
        "flagged_share": point.flagged_share,
        "ppv": point.ppv,
        "sensitivity": point.sensitivity,
    }
    metrics["fairness"] = fairness_tables(
        appointments=appointments, y=y, p=p, threshold=threshold, min_ratio=min_ratio
    )
    metrics["leakage_suspected"] = metrics["auc"] > LEAKAGE_AUC
    return metrics


def train_noshow(
    appointments: Sequence[BookedAppointment],
    *,
    test_days: int = 7,
    calibration_days: int = 7,
    calibration: str = "sigmoid",
    top_share: float = 0.2,
    min_ratio: float = 0.8,
    hyperparameters: dict[str, Any] | None = None,
    random_state: int = 0,
    trained_at: datetime | None = None,
) -> NoshowModel:
    """Fit, calibrate and measure a no-show model on a time split of ``appointments``.

    The returned model is the one measured: it was fitted on the fit period, calibrated on the
    calibration period, and never saw the test period.
    """
    if calibration not in CALIBRATION_METHODS:
        raise InvalidInput(
            f"calibration must be one of {', '.join(CALIBRATION_METHODS)}", field="calibration"
        )
    if not 0 < top_share < 1:
        raise InvalidInput("top_share must be between 0 and 1", field="top_share")
    if any(a.no_show is None for a in appointments):
        raise InvalidInput("training needs the outcome (No-show) of every row", field="csv")
    params = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    split = time_split(appointments, test_days=test_days, calibration_days=calibration_days)
    matrix = feature_matrix(appointments)
    y = outcomes(appointments)

    train_rows = split.fit + split.calibration
    x_train = matrix[train_rows]
    y_train = y[train_rows]
    fit_local = np.arange(len(split.fit))
    calibration_local = np.arange(len(split.fit), len(train_rows))
    estimator = CalibratedClassifierCV(
        build_estimator(hyperparameters=params, random_state=random_state),
        method=calibration,
        cv=[(fit_local, calibration_local)],
    )
    estimator.fit(x_train, y_train)

    p_calibration = np.asarray(estimator.predict_proba(matrix[split.calibration])[:, 1])
    # Operating point fixed before looking at the test weeks: the risk above which the top
    # ``top_share`` of the calibration weeks' bookings fall.
    threshold = float(np.quantile(p_calibration, 1 - top_share))
    test_appointments = [appointments[i] for i in split.test]
    p_test = np.asarray(estimator.predict_proba(matrix[split.test])[:, 1], dtype=np.float64)
    metrics = evaluate_predictions(
        appointments=test_appointments, p=p_test, threshold=threshold, min_ratio=min_ratio
    )
    metrics["split"] = "time"
    sidecar = Sidecar(
        careloop_version=__version__,
        sklearn_version=sklearn.__version__,
        features=list(FEATURES),
        excluded_columns=EXCLUDED_COLUMNS,
        training_period=_period(appointments, train_rows),
        fit_period=_period(appointments, split.fit),
        calibration_period=_period(appointments, split.calibration),
        test_period=_period(appointments, split.test),
        calibration_method=calibration,
        operating_threshold=threshold,
        operating_rule=f"top {round(top_share * 100)}% of risk in the calibration weeks",
        base_rate=float(y_train.mean()),
        reference=_reference(x_train),
        hyperparameters=params,
        metrics=_finite(metrics),
        trained_at=trained_at,
    )
    return NoshowModel(estimator=estimator, sidecar=sidecar)


def evaluate_noshow(
    model: NoshowModel,
    appointments: Sequence[BookedAppointment],
    *,
    history: Sequence[BookedAppointment] = (),
    min_ratio: float = 0.8,
) -> dict[str, Any]:
    """Figures of a saved model on other appointments (e.g. later weeks).

    ``history`` holds earlier appointments (e.g. the training file) so that each booking's
    earlier no-shows are known as they would be in the clinic; without it only the history
    inside ``appointments`` itself is seen.
    """
    if any(a.no_show is None for a in appointments):
        raise InvalidInput("evaluation needs the outcome (No-show) of every row", field="csv")
    targets = {a.appointment_id for a in appointments}
    matrix = feature_matrix(
        appointments, history=[h for h in history if h.appointment_id not in targets]
    )
    p = model.predict(matrix)
    metrics = evaluate_predictions(
        appointments=appointments,
        p=p,
        threshold=model.sidecar.operating_threshold,
        min_ratio=min_ratio,
    )
    days: list[date] = [a.appointment_day for a in appointments]
    metrics["period"] = {"start": min(days).isoformat(), "end": max(days).isoformat()}
    finite: dict[str, Any] = _finite(metrics)
    return finite


def _finite(value: Any) -> Any:
    """JSON has no NaN: turn non-finite floats into ``None`` throughout."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
