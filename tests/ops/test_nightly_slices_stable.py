"""SQLite: a patient added while the night runs must not shift the other patients' slices.

``slice_patients`` re-reads every id for each slice and deals ``mine[index::count]``: a
patient whose id sorts first, added after slice 0 ran, moves every later patient one place,
so one patient runs twice and another is in no slice that night."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from careloop.compose import nightly
from careloop.compose.nightly import run_nightly
from careloop.models import Patient
from careloop.runtime import Runtime
from tests.ops.test_nightly import _population

NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_patient_added_mid_night_leaves_no_other_patient_out(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _population(rt)
    with rt.transaction() as session:
        before = sorted(session.scalars(select(Patient.id)))
    seen: Counter[str] = Counter()
    real = nightly.run_slice

    def run_slice(rt_: Runtime, *, patient_ids: list[str], now: datetime) -> Any:
        seen.update(patient_ids)
        counts = real(rt_, patient_ids=patient_ids, now=now)
        if sum(seen.values()) == len(patient_ids):  # after the first slice: a new patient
            with rt.transaction() as session:
                session.add(
                    Patient(
                        id="000-new",
                        timezone="UTC",
                        timezone_source="default",
                        created_at=NIGHT,
                        updated_at=NIGHT,
                    )
                )
        return counts

    monkeypatch.setattr(nightly, "run_slice", run_slice)
    run_nightly(rt, database="", now=NIGHT, slice_size=5)
    assert {pid: seen[pid] for pid in before} == dict.fromkeys(before, 1)
