"""``careloop risk train|evaluate noshow``: the command-line contract."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from careloop.cli import app

pytestmark = pytest.mark.slow

CONTRACT_KEYS = {"auc", "calibration_slope", "calibration_intercept", "brier", "n"}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory, noshow_sample_csv: Path) -> Path:
    directory = tmp_path_factory.mktemp("models")
    result = CliRunner().invoke(
        app,
        [
            "risk",
            "train",
            "noshow",
            "--csv",
            str(noshow_sample_csv),
            "--models-dir",
            str(directory),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return directory


def _write(path: Path, rows: list[dict[str, str]], fieldnames: list[str]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rows(source: Path) -> tuple[list[dict[str, str]], list[str]]:
    with source.open(newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader), list(reader.fieldnames or [])


def _evaluate(models_dir: Path, csv_path: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [
            "risk",
            "evaluate",
            "noshow",
            "--csv",
            str(csv_path),
            "--models-dir",
            str(models_dir),
            "--json",
            *extra,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def test_train_saves_model_and_sidecar_and_prints_metrics(
    tmp_path: Path, noshow_sample_csv: Path
) -> None:
    result = CliRunner().invoke(
        app,
        [
            "risk",
            "train",
            "noshow",
            "--csv",
            str(noshow_sample_csv),
            "--models-dir",
            str(tmp_path),
            "--json",
        ],
    )

    figures = json.loads(result.stdout)
    sidecar = json.loads((tmp_path / "noshow.json").read_text())
    assert result.exit_code == 0
    assert set(figures) >= CONTRACT_KEYS
    assert figures["periods"]["test"]["start"] > figures["periods"]["fit"]["end"]
    assert (tmp_path / "noshow.joblib").exists()
    assert sidecar["metrics"]["auc"] == figures["auc"]
    assert "SMS_received" in sidecar["excluded_columns"]
    assert "SMS_received" not in sidecar["features"]


def test_evaluate_on_later_appointments_prints_the_contract_keys(
    tmp_path: Path, models_dir: Path, noshow_sample_csv: Path
) -> None:
    rows, fields = _rows(noshow_sample_csv)
    later = _write(
        tmp_path / "later.csv", [r for r in rows if r["AppointmentDay"] >= "2016-05-25"], fields
    )

    code, stdout, _ = _evaluate(models_dir, later)

    figures = json.loads(stdout)
    assert code == 0
    assert set(figures) >= CONTRACT_KEYS
    assert figures["n"] == sum(1 for r in rows if r["AppointmentDay"] >= "2016-05-25")
    assert 0.6 < figures["auc"] < 0.85


def test_evaluate_with_history_uses_earlier_outcomes(
    tmp_path: Path, models_dir: Path, noshow_sample_csv: Path
) -> None:
    rows, fields = _rows(noshow_sample_csv)
    later = _write(
        tmp_path / "later.csv", [r for r in rows if r["AppointmentDay"] >= "2016-05-25"], fields
    )

    code, stdout, _ = _evaluate(models_dir, later, "--history", str(noshow_sample_csv))

    assert code == 0
    assert json.loads(stdout)["history_rows"] > 0


def test_evaluate_reports_and_skips_bad_rows(
    tmp_path: Path, models_dir: Path, noshow_sample_csv: Path
) -> None:
    rows, fields = _rows(noshow_sample_csv)
    later = [r for r in rows if r["AppointmentDay"] >= "2016-05-25"]
    later[0] = {**later[0], "Gender": "X"}
    later[1] = {**later[1], "AppointmentDay": "not a date"}
    path = _write(tmp_path / "bad.csv", later, fields)

    code, stdout, stderr = _evaluate(models_dir, path)

    figures = json.loads(stdout)
    assert code == 0
    assert figures["skipped_rows"] == 2
    assert figures["skipped"][0] == {"line": 2, "reason": "Gender is not F or M"}
    assert "skipped 2 bad rows" in stderr


def test_missing_columns_give_one_line_error(
    tmp_path: Path, models_dir: Path, noshow_sample_csv: Path
) -> None:
    rows, fields = _rows(noshow_sample_csv)
    kept = [f for f in fields if f not in ("No-show", "Age")]
    path = _write(tmp_path / "short.csv", [{f: r[f] for f in kept} for r in rows[:50]], kept)

    code, stdout, stderr = _evaluate(models_dir, path)

    assert code == 2
    assert stdout == ""
    assert "missing columns: Age, No-show" in stderr
    assert "Traceback" not in stderr


def test_missing_file_is_a_clean_error(tmp_path: Path, models_dir: Path) -> None:
    code, _, stderr = _evaluate(models_dir, tmp_path / "nope.csv")

    assert code == 2
    assert "no such file" in stderr


def test_evaluate_without_a_model_says_to_train_first(
    tmp_path: Path, noshow_sample_csv: Path
) -> None:
    code, _, stderr = _evaluate(tmp_path / "empty", noshow_sample_csv)

    assert code == 2
    assert "risk train noshow" in stderr


def test_file_with_only_attended_appointments_cannot_be_scored(
    tmp_path: Path, models_dir: Path, noshow_sample_csv: Path
) -> None:
    rows, fields = _rows(noshow_sample_csv)
    path = _write(
        tmp_path / "attended.csv", [r for r in rows if r["No-show"] == "No"][:200], fields
    )

    code, _, stderr = _evaluate(models_dir, path)

    assert code == 2
    assert "both attended and missed" in stderr
    assert "Traceback" not in stderr
