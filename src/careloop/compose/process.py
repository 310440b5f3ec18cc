"""The loops a process runs: the periodic jobs, then the outbox, until told to stop.

``careloop worker`` runs :func:`run_worker_loop` in the foreground; ``careloop serve`` runs it
in a background thread (:func:`start_in_process`), by default on SQLite only, where its
one writer is all SQLite wants. Any number of processes may run it on PostgreSQL: the outbox
is claimed with ``SKIP LOCKED`` and each job is leased (:mod:`careloop.compose.jobs`).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import OperationalError

from careloop.channels.portal import PortalInbox
from careloop.channels.registry import ChannelRegistry
from careloop.collector import paused, settle_batch_process
from careloop.compose.jobs import JobOutcome, JobRunner
from careloop.compose.supervisor import SupervisorReport, supervise
from careloop.compose.worker import build_worker, default_worker_id
from careloop.outreach.worker import BatchReport, Worker
from careloop.runtime import Runtime

log = logging.getLogger("careloop.worker")


@dataclass
class LoopReport:
    """What one loop did: the outbox totals and the jobs it ran."""

    outbox: BatchReport = field(default_factory=BatchReport)
    jobs: list[JobOutcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            **self.outbox.as_dict(),
            "jobs": [{"name": j.name, "status": j.status, **j.result} for j in self.jobs],
        }


def run_worker_loop(
    worker: Worker,
    jobs: JobRunner | None,
    *,
    batch: int | None = None,
    once: bool = False,
    stop: Callable[[], bool] = lambda: False,
    wait: Callable[[float], object] | None = None,
) -> LoopReport:
    """Due jobs, then the outbox until nothing is due; repeat until ``stop()`` (or once)."""
    report = LoopReport()
    pause = worker.settings.worker.poll_seconds
    sleep = wait or worker.sleep
    while not stop():
        if jobs is not None:
            try:
                report.jobs.extend(jobs.run_due())
            except OperationalError:
                # Database gone (restart, failover): nothing is lost, leases expire.
                log.warning("database unavailable; jobs retried in %.0f s", pause)
                sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
        pause = worker.settings.worker.poll_seconds
        report.outbox.add(worker.run(batch=batch, once=True, stop=stop))
        if once:
            break
        sleep(pause)
    return report


def run_worker_processes(
    rt: Runtime,
    *,
    processes: int,
    worker_id: str | None = None,
    jobs: bool = True,
    batch: int | None = None,
    once: bool = False,
) -> SupervisorReport:
    """``careloop worker --processes N``: N forks of this process, each a worker with its own
    connections, id and advisory lock (:mod:`careloop.compose.supervisor`).

    Children are named ``<worker_id>-<pid>`` (``<host>-<pid>`` without one): a re-forked
    child is a new worker, so the dead one's rows are adopted and its sends in doubt settled
    by the rules for any dead worker, never taken over as its own.
    """
    with paused():  # everything a child imports is imported here, once: one worker built
        build_worker(rt, worker_id=worker_id or default_worker_id())
    rt.engine.dispose()  # no connection of this process is inherited by a child
    # Frozen before the forks: the children share these pages instead of each copying them
    # on its collector's first pass.
    settle_batch_process()

    def child(_slot: int, stop: Callable[[], bool]) -> int:
        # The pool copied from the supervisor is dropped, not closed (close=False): its
        # connections, were there any, are the supervisor's sockets.
        rt.engine.dispose(close=False)
        name = f"{worker_id}-{os.getpid()}" if worker_id else default_worker_id()
        worker = build_worker(rt, worker_id=name)
        runner = JobRunner(rt, owner=name) if jobs else None
        run_worker_loop(worker, runner, batch=batch, once=once, stop=stop)
        return 0

    return supervise(child, processes=processes, once=once)


def start_in_process(
    rt: Runtime,
    *,
    channels: ChannelRegistry | None = None,
    portal_inbox: PortalInbox | None = None,
) -> tuple[threading.Thread, threading.Event]:
    """The jobs and one outbox worker in a background thread of ``careloop serve``.

    Returns the thread and the event that stops it. A failure is logged and the loop goes
    on after a pause: the service keeps answering HTTP.
    """
    stop = threading.Event()
    owner = f"{default_worker_id()}-serve"
    worker = build_worker(rt, worker_id=owner, channels=channels, portal_inbox=portal_inbox)
    worker.sleep = stop.wait  # type: ignore[assignment]
    jobs = JobRunner(rt, owner=owner)

    def loop() -> None:
        while not stop.is_set():
            try:
                run_worker_loop(worker, jobs, stop=stop.is_set, wait=stop.wait)
            except Exception as exc:
                log.error(
                    "in-process worker failed; retrying in 30 s",
                    extra={"error": exc.__class__.__name__},
                )
                stop.wait(30)

    thread = threading.Thread(target=loop, name="careloop-worker", daemon=True)
    thread.start()
    return thread, stop
