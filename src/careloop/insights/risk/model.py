"""The fitted no-show model and the facts about it that travel with it (the sidecar)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

ARTIFACT_FORMAT = 1
MODEL_NAME = "noshow"
CALIBRATION_METHODS = ("isotonic", "sigmoid")


class Period(BaseModel):
    """An inclusive range of appointment days."""

    model_config = ConfigDict(frozen=True)

    start: date
    end: date
    n: int


class Sidecar(BaseModel):
    """What is known about a saved model, stored as JSON next to the pickled pipeline."""

    model_config = ConfigDict(frozen=True)

    model: str = MODEL_NAME
    format_version: int = ARTIFACT_FORMAT
    careloop_version: str
    sklearn_version: str
    features: list[str]
    excluded_columns: dict[str, str]
    training_period: Period
    fit_period: Period
    calibration_period: Period
    test_period: Period
    calibration_method: str
    operating_threshold: float
    operating_rule: str
    base_rate: float
    reference: dict[str, float | str | None]
    hyperparameters: dict[str, Any]
    metrics: dict[str, Any]
    trained_at: datetime | None = None
    artifact_sha256: str = ""


@dataclass(frozen=True, slots=True)
class NoshowModel:
    """A calibrated classifier plus its sidecar; ``predict`` gives P(no-show)."""

    estimator: Any
    sidecar: Sidecar

    def predict(self, features: npt.NDArray[np.object_]) -> npt.NDArray[np.float64]:
        """Calibrated probabilities of a no-show, one per row."""
        return np.asarray(self.estimator.predict_proba(features)[:, 1], dtype=np.float64)
