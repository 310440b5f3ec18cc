"""Fixtures of the insights tests: a real-data subsample and one model trained per session."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from insights_payloads import NOSHOW_CSV
from threadpoolctl import threadpool_limits

from careloop.insights.risk.appointments_csv import BookedAppointment, read_appointments
from careloop.insights.risk.model import NoshowModel
from careloop.insights.risk.noshow import train_noshow


def _keep(patient_id: str, share: int) -> bool:
    # Whole patients are kept or dropped, so every kept patient's history stays complete.
    return int(hashlib.sha256(patient_id.encode()).hexdigest()[:8], 16) % 100 < share


@pytest.fixture(scope="session")
def noshow_sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About a third of the real patients (all their appointments), as a CSV file."""
    if not NOSHOW_CSV.exists():
        pytest.skip("shared no-show data not available")
    target = tmp_path_factory.mktemp("noshow") / "sample.csv"
    with NOSHOW_CSV.open(newline="") as source, target.open("w", newline="") as out:
        reader = csv.DictReader(source)
        writer = csv.DictWriter(out, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        writer.writerows(row for row in reader if _keep(row["PatientId"], 30))
    return target


@pytest.fixture(scope="session")
def noshow_sample(noshow_sample_csv: Path) -> list[BookedAppointment]:
    return read_appointments(noshow_sample_csv).appointments


@pytest.fixture(scope="session")
def noshow_model(noshow_sample: list[BookedAppointment]) -> Iterator[NoshowModel]:
    """One model per test session, trained on the subsample's time split."""
    with threadpool_limits(limits=1):
        yield train_noshow(noshow_sample)
