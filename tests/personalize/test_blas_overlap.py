"""Two nightly slices overlapping in one process (``careloop worker --concurrency 2``: procrastinate
runs sync tasks in threads) must leave the process's BLAS threads as they found them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from threadpoolctl import threadpool_info

from careloop.compose import nightly


def _blas_threads() -> list[int]:
    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_overlapping_slices_restore_the_blas_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _blas_threads()
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def slice_a(rt: object, *, patient_ids: list[str], now: datetime) -> dict[str, int]:
        a_in.set()
        b_in.wait(5)
        return {"patients": 1}

    def slice_b(rt: object, *, patient_ids: list[str], now: datetime) -> dict[str, int]:
        b_in.set()
        a_out.wait(5)
        return {"patients": 1}

    def fake(rt: object, *, patient_ids: list[str], now: datetime) -> dict[str, int]:
        return (slice_a if patient_ids == ["a"] else slice_b)(rt, patient_ids=patient_ids, now=now)

    monkeypatch.setattr(nightly, "_run_slice", fake)
    now = datetime(2026, 3, 2, tzinfo=UTC)
    first = threading.Thread(
        target=nightly.run_slice, args=(None,), kwargs={"patient_ids": ["a"], "now": now}
    )
    first.start()
    a_in.wait(5)
    second = threading.Thread(
        target=nightly.run_slice, args=(None,), kwargs={"patient_ids": ["b"], "now": now}
    )
    second.start()
    first.join(5)
    a_out.set()
    second.join(5)
    assert _blas_threads() == before  # the worker's other tasks keep their BLAS threads
