"""Saved models: a pickle plus a sidecar; mismatches are refused, never half-used."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from careloop.errors import InvalidInput, NotFound
from careloop.insights.risk.artifacts import load_model, save_model
from careloop.insights.risk.features import FEATURES
from careloop.insights.risk.model import NoshowModel


def test_saved_model_loads_and_predicts_the_same(tmp_path: Path, noshow_model: NoshowModel) -> None:
    save_model(noshow_model, directory=tmp_path)

    loaded = load_model(directory=tmp_path)

    assert loaded.sidecar.features == list(FEATURES)
    assert loaded.sidecar.training_period == noshow_model.sidecar.training_period
    assert loaded.sidecar.metrics["auc"] == noshow_model.sidecar.metrics["auc"]


def test_sidecar_with_another_feature_schema_is_refused(
    tmp_path: Path, noshow_model: NoshowModel
) -> None:
    _, sidecar_path = save_model(noshow_model, directory=tmp_path)
    sidecar = json.loads(sidecar_path.read_text())
    sidecar["features"] = [*sidecar["features"], "sms_received"]
    sidecar_path.write_text(json.dumps(sidecar))

    with pytest.raises(InvalidInput, match="feature schema") as error:
        load_model(directory=tmp_path)

    assert error.value.field == "model"


def test_pickle_that_does_not_match_its_sidecar_is_refused(
    tmp_path: Path, noshow_model: NoshowModel
) -> None:
    pickle_path, _ = save_model(noshow_model, directory=tmp_path)
    pickle_path.write_bytes(pickle_path.read_bytes() + b"\0")

    with pytest.raises(InvalidInput, match="checksum"):
        load_model(directory=tmp_path)


def test_missing_model_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        load_model(directory=tmp_path)
