"""The no-show model on a time split of real appointments: honest figures, no leakage."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from careloop.insights.risk.appointments_csv import BookedAppointment
from careloop.insights.risk.features import FEATURES, feature_matrix, outcomes
from careloop.insights.risk.metrics import calibration, discrimination_and_calibration
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.noshow import (
    DEFAULT_HYPERPARAMETERS,
    LEAKAGE_AUC,
    build_estimator,
    evaluate_noshow,
    time_split,
)

pytestmark = pytest.mark.slow


def test_time_split_auc_is_useful_and_below_the_leakage_line(noshow_model: NoshowModel) -> None:
    metrics = noshow_model.sidecar.metrics

    assert 0.68 <= metrics["auc"] < LEAKAGE_AUC
    assert metrics["leakage_suspected"] is False


def test_test_period_comes_after_everything_the_model_learned_from(
    noshow_model: NoshowModel,
) -> None:
    sidecar = noshow_model.sidecar

    assert sidecar.fit_period.end < sidecar.calibration_period.start
    assert sidecar.calibration_period.end < sidecar.test_period.start


def test_model_is_calibrated_on_later_weeks(noshow_model: NoshowModel) -> None:
    metrics = noshow_model.sidecar.metrics

    assert 0.7 <= metrics["calibration_slope"] <= 1.3
    assert abs(metrics["calibration_intercept"]) < 0.5
    assert metrics["brier"] < metrics["brier_reference"]


def test_operating_point_reports_ppv_above_the_base_rate(noshow_model: NoshowModel) -> None:
    metrics = noshow_model.sidecar.metrics

    assert metrics["operating_point"]["ppv"] > metrics["observed_rate"]


def test_fairness_tables_cover_sex_and_age_band(noshow_model: NoshowModel) -> None:
    fairness = noshow_model.sidecar.metrics["fairness"]

    assert {g["group"] for g in fairness["sex"]["groups"]} == {"female", "male"}
    assert {g["group"] for g in fairness["age_band"]["groups"]} >= {"0-11", "18-29", "65+"}


def test_a_feature_computed_from_future_appointments_would_be_caught(
    noshow_sample: list[BookedAppointment],
) -> None:
    # The guard's reason to exist, and the classic mistake on this data: count each patient's
    # no-shows over the WHOLE file (later appointments, and this one, included) and the same
    # pipeline jumps past the leakage line.
    split = time_split(noshow_sample, test_days=7, calibration_days=7)
    matrix = feature_matrix(noshow_sample)
    y = outcomes(noshow_sample)
    totals = Counter(a.patient_id for a in noshow_sample if a.no_show)
    counts = Counter(a.patient_id for a in noshow_sample)
    column = FEATURES.index("earlier_noshows")
    rate = FEATURES.index("earlier_noshow_rate")
    for index, appointment in enumerate(noshow_sample):
        matrix[index, column] = float(totals[appointment.patient_id])
        matrix[index, rate] = totals[appointment.patient_id] / counts[appointment.patient_id]
    train = split.fit + split.calibration
    leaky = build_estimator(hyperparameters=DEFAULT_HYPERPARAMETERS, random_state=0)
    leaky.fit(matrix[train], y[train])

    auc = roc_auc_score(y[split.test], leaky.predict_proba(matrix[split.test])[:, 1])

    assert auc > LEAKAGE_AUC


def test_shuffled_outcomes_leave_nothing_to_learn(noshow_sample: list[BookedAppointment]) -> None:
    # With outcomes shuffled in time order, an honest pipeline (target encoding cross-fitted
    # inside the training rows) has nothing to find in the test weeks.
    split = time_split(noshow_sample, test_days=7, calibration_days=7)
    matrix = feature_matrix(noshow_sample)
    y = np.random.default_rng(3).permutation(outcomes(noshow_sample))
    train = split.fit + split.calibration
    model = build_estimator(hyperparameters=DEFAULT_HYPERPARAMETERS, random_state=0)
    model.fit(matrix[train], y[train])

    auc = roc_auc_score(y[split.test], model.predict_proba(matrix[split.test])[:, 1])

    assert abs(auc - 0.5) < 0.05


def test_evaluate_works_on_later_appointments_alone(
    noshow_model: NoshowModel, noshow_sample: list[BookedAppointment]
) -> None:
    start = noshow_model.sidecar.test_period.start
    later = [a for a in noshow_sample if a.appointment_day >= start]

    metrics = evaluate_noshow(noshow_model, later)

    assert metrics["n"] == len(later)
    assert 0.6 < metrics["auc"] < LEAKAGE_AUC
    assert metrics["period"]["start"] == start.isoformat()


def test_history_from_earlier_files_is_used_when_given(
    noshow_model: NoshowModel, noshow_sample: list[BookedAppointment]
) -> None:
    start = noshow_model.sidecar.test_period.start
    later = [a for a in noshow_sample if a.appointment_day >= start]
    earlier = [a for a in noshow_sample if a.appointment_day < start]

    with_history = evaluate_noshow(noshow_model, later, history=earlier)

    assert with_history["auc"] == pytest.approx(noshow_model.sidecar.metrics["auc"])


def test_calibration_of_true_probabilities_is_ideal() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.9, 40_000)
    y = (rng.uniform(size=p.size) < p).astype(int)

    result = calibration(y=y, p=p)

    assert result.slope == pytest.approx(1.0, abs=0.05)
    assert result.intercept == pytest.approx(0.0, abs=0.05)


def test_over_confident_probabilities_have_slope_below_one() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0.05, 0.95, 40_000)
    y = (rng.uniform(size=p.size) < p).astype(int)
    logits = np.log(p / (1 - p)) * 2
    over_confident = 1 / (1 + np.exp(-logits))

    figures = discrimination_and_calibration(y=y, p=over_confident)

    assert figures["calibration_slope"] == pytest.approx(0.5, abs=0.05)
    assert set(figures) >= {"auc", "calibration_slope", "calibration_intercept", "brier", "n"}
