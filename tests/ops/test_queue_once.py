"""``careloop worker --queue --once`` stays while another worker's task runs: the night task
defers its slices as it runs, so a second worker that left on seeing nothing waiting left the
whole night to the first (both measured "two workers" ran as one)."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from careloop.compose.queue import build_app, run_queue_worker
from careloop.runtime import Runtime
from tests.ops.test_queue import _runtime

pytestmark = pytest.mark.postgres


def _set_status(rt: Runtime, status: str) -> None:
    """Every task's status; "doing" as a live worker holds it (registered, heartbeat fresh)."""
    with rt.engine.begin() as conn:
        worker = conn.execute(text("SELECT procrastinate_register_worker_v1()")).scalar_one()
        conn.execute(
            text("UPDATE procrastinate_jobs SET status = :s, worker_id = :w"),
            {"s": status, "w": worker if status == "doing" else None},
        )


def test_a_once_worker_waits_for_another_workers_running_task(
    empty_postgresql_url: str,
) -> None:
    rt = _runtime(empty_postgresql_url)
    try:
        app = build_app(rt)
        with app.open():
            night = app.configure_task("careloop:careloop.night")
            night.defer(moment="2026-12-01T15:00:00+00:00", slice_size=1)
        # As if another worker had taken it and were running it now.
        _set_status(rt, "doing")
        worker = threading.Thread(
            target=run_queue_worker, args=(rt,), kwargs={"once": True, "queues": ["nightly"]}
        )
        worker.start()
        worker.join(timeout=4)
        assert worker.is_alive(), "a --once worker left while another worker's task ran"

        _set_status(rt, "succeeded")  # the other worker is done, nothing was deferred
        worker.join(timeout=15)
        assert not worker.is_alive()
    finally:
        rt.engine.dispose()


def test_a_once_worker_leaves_when_nothing_waits_or_runs(empty_postgresql_url: str) -> None:
    rt = _runtime(empty_postgresql_url)
    try:
        began = time.monotonic()
        run_queue_worker(rt, once=True, queues=["nightly"])
        assert time.monotonic() - began < 15
    finally:
        rt.engine.dispose()
