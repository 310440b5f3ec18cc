"""The night's coordinator sends each worker a slice's number, never the population's ids."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from careloop.compose import nightly
from careloop.compose.nightly import SlicePart, run_nightly, run_slice_part, slice_count
from careloop.models import Patient
from careloop.runtime import Runtime
from tests.ops.test_nightly import _population
from tests.ops.test_queue import _runtime

NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
pytestmark = pytest.mark.postgres


class InProcess(Executor):
    """Runs the jobs a worker pool would get in this process, and keeps them."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.jobs: list[tuple[str, SlicePart, str]] = []

    def map(  # type: ignore[override]
        self, fn: Callable[..., Any], *iterables: Iterable[Any], **_: Any
    ) -> Iterator[dict[str, int]]:
        for database, part, moment in iterables[0]:
            self.jobs.append((database, part, moment))
            yield run_slice_part(self.rt, part=part, now=datetime.fromisoformat(moment))


def test_the_coordinator_counts_patients_and_never_reads_their_ids(
    empty_postgresql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``run_nightly`` loaded every patient id to deal the slices (10M ids: ~1 GB in one
    process); each worker now reads its own slice's ids by hash range."""
    rt = _runtime(empty_postgresql_url)
    try:
        _population(rt)

        def everyone(*_: Any, **__: Any) -> list[str]:
            raise AssertionError("the coordinator read every patient id")

        monkeypatch.setattr(nightly, "patient_ids", everyone)
        pool = InProcess(rt)
        report = run_nightly(rt, database="db", now=NIGHT, workers=2, slice_size=6, pool=pool)
        again = run_nightly(rt, database="db", now=NIGHT, slice_size=20)
        with rt.transaction() as session:
            patients = len(session.scalars(select(Patient.id)).all())
    finally:
        rt.engine.dispose()

    assert [part for _, part, _ in pool.jobs] == [SlicePart(k, 4) for k in range(4)]
    assert report.patients == patients == 20
    assert report.gaps > 0
    assert (again.gaps, again.enrolled, again.enqueued) == (report.gaps, 0, 0)


def test_the_queue_and_the_workers_make_as_many_slices() -> None:
    assert slice_count(5000, slice_size=2000, workers=2) == 4
    assert slice_count(5000, slice_size=2000, workers=1) == 3
    assert slice_count(20000, slice_size=2000, workers=2) == 10
    assert slice_count(0, slice_size=2000, workers=4) == 1
