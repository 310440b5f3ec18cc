"""The distributed queue: the nightly slices, the outbox and the periodic jobs as Procrastinate
tasks on PostgreSQL, run by ``careloop worker --queue`` on any number of machines.

Why Procrastinate (docs/scale.md): PostgreSQL is already the one stateful service; a task is a
row claimed with ``SKIP LOCKED``, as the outbox and due steps are; no second broker whose state
must agree with the database. The task bodies are the ones the in-process paths run
(:func:`careloop.compose.nightly.run_slice`, :class:`careloop.compose.jobs.JobRunner`, the
outbox :class:`~careloop.outreach.worker.Worker`), so SQLite, which has no queue, runs the same
work in one process (``careloop nightly``, ``careloop worker``).

- ``careloop.night`` (queue ``nightly``): the opening tick, then one ``careloop.nightly_slice``
  task per slice of patients. A slice is one transaction and idempotent, so a retry or a
  worker killed mid-slice loses nothing and doubles nothing.
- ``careloop.jobs`` (queue ``jobs``, every minute, deferred once per minute for the whole
  cluster): the periodic jobs that are due; each keeps its own lease (``job_runs``).
- ``careloop.retry_stalled`` (queue ``jobs``, every minute): tasks of a worker whose heartbeat
  stopped (killed, machine lost) go back to the queue.
- ``careloop.dispatch`` (queue ``outbox``, every 10 s): drains the outbox; while it finds full
  batches it defers one more dispatch, so a backlog spreads over every idle worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from procrastinate import App, Blueprint, JobContext, PsycopgConnector, RetryStrategy
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import DEFAULT_PRIORITY
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from careloop.compose.jobs import JobRunner
from careloop.compose.nightly import (
    SLICE_SIZE,
    SlicePart,
    open_night,
    run_slice_part,
    slice_count,
)
from careloop.compose.worker import build_worker
from careloop.content.service import require_approved_content
from careloop.errors import InvalidInput
from careloop.models import Patient
from careloop.outreach.worker import Worker
from careloop.runtime import Runtime, open_runtime

log = logging.getLogger("careloop.queue")

QUEUES = ("nightly", "outbox", "jobs")
DISPATCH_BATCH = 200
DISPATCH_MORE = "careloop.dispatch.more"
DISPATCH_SECONDS = 30.0
"""A dispatch task hands over after this long, so a busy outbox never pins one worker slot."""

_lock = threading.Lock()
_runtimes: dict[str, Runtime] = {}
_workers = threading.local()


def _database(context: JobContext) -> str:
    return str(context.additional_context["database"])


def _runtime(context: JobContext) -> Runtime:
    """One runtime (engine, pool) per worker process and database, opened on first use."""
    database = _database(context)
    with _lock:
        rt = _runtimes.get(database)
        if rt is None:
            rt = _runtimes[database] = open_runtime(database=database, run_migrations=False)
    return rt


def _outbox_worker(context: JobContext) -> Worker:
    """One outbox worker per thread: the worker keeps per-batch state."""
    worker: Worker | None = getattr(_workers, "worker", None)
    if worker is None:
        name = f"{socket.gethostname()}-{os.getpid()}-{threading.get_ident() % 10_000}-queue"
        worker = _workers.worker = build_worker(_runtime(context), worker_id=name)
    return worker


def _defer_once(deferrer: Any, **kwargs: Any) -> int | None:
    """Defer unless the same job already waits (its queueing lock); None when it does."""
    try:
        return int(deferrer.defer(**kwargs))
    except AlreadyEnqueued:
        return None


def nightly_slice(context: JobContext, *, moment: str, index: int, count: int) -> dict[str, int]:
    """Slice ``index`` of ``count`` (one transaction, idempotent: safe to retry).

    The task names its slice, not its patients, so no patient id is in the queue or its logs;
    a patient added since the night began simply joins the slice their id hashes to.
    """
    part = SlicePart(index, count)
    return run_slice_part(_runtime(context), part=part, now=datetime.fromisoformat(moment))


def night(
    context: JobContext, *, moment: str, slice_size: int = SLICE_SIZE, workers: int = 1
) -> dict[str, Any]:
    """The opening tick, then a task per slice (picked up by every worker of the cluster):
    as many as a multiple of ``workers``, so none is left running the last slice alone."""
    rt = _runtime(context)
    opening = open_night(rt, now=datetime.fromisoformat(moment))
    with rt.transaction() as session:
        patients = session.scalar(select(func.count()).select_from(Patient)) or 0
    count = slice_count(patients, slice_size=slice_size, workers=workers)
    deferred = 0
    for index in range(count):
        job = context.app.configure_task(
            "careloop:careloop.nightly_slice", queueing_lock=f"night:{moment}:{index}"
        )
        deferred += _defer_once(job, moment=moment, index=index, count=count) is not None
    return {"slices": count, "deferred": deferred, "opening": opening}


def periodic_jobs(context: JobContext, timestamp: int) -> list[dict[str, Any]]:
    """The periodic jobs that are due (each still runs once per period: its lease decides)."""
    owner = f"{socket.gethostname()}-{os.getpid()}-queue"
    outcomes = JobRunner(_runtime(context), owner=owner).run_due()
    return [{"name": o.name, "status": o.status} for o in outcomes]


def dispatch(context: JobContext, timestamp: int | None = None) -> dict[str, int]:
    """Send what is due; while batches come back full, call one more worker in to help."""
    worker = _outbox_worker(context)
    total: dict[str, int] = {}
    started = time.monotonic()
    while time.monotonic() - started < DISPATCH_SECONDS:
        report = worker.run_once(batch=DISPATCH_BATCH)
        for key, value in report.as_dict().items():
            total[key] = total.get(key, 0) + value
        if report.claimed < DISPATCH_BATCH:
            return total
        _call_help(context)
    _call_help(context)
    return total


def _call_help(context: JobContext) -> None:
    _defer_once(
        context.app.configure_task("careloop:careloop.dispatch", queueing_lock=DISPATCH_MORE)
    )


async def retry_stalled(context: JobContext, timestamp: int) -> int:
    """Put back the tasks of workers that stopped sending heartbeats (killed, machine lost).

    Every careloop task is safe to run again: a slice is idempotent, the outbox re-checks
    what is in doubt, periodic jobs hold leases.
    """
    return await _put_back_stalled(context.app)


async def _put_back_stalled(app: App) -> int:
    manager = app.job_manager
    stalled = list(await manager.get_stalled_jobs())
    for job in stalled:
        await manager.retry_job(job)
    if stalled:
        log.warning("tasks of stalled workers put back", extra={"tasks": len(stalled)})
    return len(stalled)


def put_back_stalled(app: App) -> int:
    """What :func:`retry_stalled` does, run once when a worker starts: a worker restarted after
    a kill takes up the night it left before anything else, not a minute later."""

    async def run() -> int:
        async with app.open_async():
            return await _put_back_stalled(app)

    return asyncio.run(run())


def conninfo(rt: Runtime) -> str:
    """The runtime's PostgreSQL URL as libpq understands it (no SQLAlchemy driver suffix)."""
    if rt.engine.dialect.name != "postgresql":
        raise InvalidInput(
            "the task queue needs PostgreSQL; on SQLite run the same work in one process "
            "(`careloop worker`, `careloop nightly`) without --queue",
            field="queue",
        )
    return rt.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def _blueprint() -> Blueprint:
    """careloop's tasks and their schedule, built anew for each app.

    ``App.add_tasks_from`` renames the blueprint's tasks in place, so a blueprint shared by
    two apps of one process (a web process deferring twice, a test run) gave the second app
    tasks named ``careloop:careloop:…``: its deferrals went to the queue ``default``, which no
    worker reads, and the night never ran.
    """
    bp = Blueprint()
    bp.task(
        nightly_slice,
        name="careloop.nightly_slice",
        queue="nightly",
        pass_context=True,
        retry=RetryStrategy(max_attempts=5, wait=5),
    )
    bp.task(night, name="careloop.night", queue="nightly", pass_context=True)
    _every(bp, periodic_jobs, name="jobs", queue="jobs", cron="* * * * *")
    # The stalled retry goes before the periodic jobs it would otherwise wait behind.
    _every(bp, retry_stalled, name="retry_stalled", queue="jobs", cron="* * * * *", priority=100)
    # A sixth cron field counts seconds: the outbox is dispatched every ten.
    _every(bp, dispatch, name="dispatch", queue="outbox", cron="* * * * * */10")
    return bp


def _every(
    bp: Blueprint,
    task: Callable[..., Any],
    *,
    name: str,
    queue: str,
    cron: str,
    priority: int = DEFAULT_PRIORITY,
) -> None:
    """A periodic task that is queued at most once at a time (its queueing lock is its
    name), so beats that come while one waits or runs are not stacked up behind it."""
    job = bp.task(
        task,
        name=f"careloop.{name}",
        queue=queue,
        pass_context=True,
        queueing_lock=f"careloop.{name}",
        priority=priority,
    )
    bp.periodic(cron=cron, periodic_id=name)(job)


def build_app(rt: Runtime) -> App:
    """The Procrastinate app over the runtime's database, with careloop's tasks."""
    app = App(connector=PsycopgConnector(conninfo=conninfo(rt)))
    app.add_tasks_from(_blueprint(), namespace="careloop")
    return app


@contextmanager
def opened(rt: Runtime) -> Iterator[App]:
    """The app opened for deferring from this (synchronous) process."""
    app = build_app(rt)
    with app.open():
        yield app


NIGHT_TASKS = ("careloop:careloop.night", "careloop:careloop.nightly_slice")
NIGHT_LOCK = 0x6E696768  # advisory lock: one deferral of a night at a time, cluster-wide


STALE_NIGHT = timedelta(hours=12)  # a night pending longer is not tonight's


def pending_night(session: Session, *, since: datetime | None = None) -> str | None:
    """The moment of a night whose opening or slices wait or run (retries included).

    With ``since``, only a night whose moment is later counts: one pending from an earlier
    day (its workers were down) must not stop tonight's from being queued.
    """
    moments = session.scalars(
        text(
            "SELECT args->>'moment' FROM procrastinate_jobs "
            "WHERE queue_name = 'nightly' AND task_name = ANY(:tasks) "
            "AND status IN ('todo', 'doing') ORDER BY id DESC"
        ),
        {"tasks": list(NIGHT_TASKS)},
    )
    for moment in moments:
        if moment is None:
            continue
        if since is None or datetime.fromisoformat(str(moment)) > since:
            return str(moment)
    return None


def defer_night(
    rt: Runtime, *, now: datetime, slice_size: int = SLICE_SIZE, workers: int = 1
) -> int | None:
    """Queue tonight's cycle; None when a night is already queued or running.

    Two calls a second apart used to queue two nights (the queueing lock holds one moment,
    and only while its task waits): idempotent, but every patient read twice. The check and
    the deferral hold an advisory lock, so two calls at once cannot both pass the check.
    A night still pending from more than ``STALE_NIGHT`` earlier does not count.
    """
    if workers < 1:
        raise InvalidInput("workers must be at least 1", field="workers")
    moment = now.isoformat()
    with opened(rt) as app, rt.transaction() as session:
        require_approved_content(session)
        session.execute(select(func.pg_advisory_xact_lock(NIGHT_LOCK)))
        if pending_night(session, since=now - STALE_NIGHT) is not None:
            return None
        job = app.configure_task("careloop:careloop.night", queueing_lock=f"night:{moment}")
        return _defer_once(job, moment=moment, slice_size=slice_size, workers=workers)


def night_status(rt: Runtime, *, now: datetime) -> dict[str, int]:
    """How many of the night's tasks (opening and slices) are in each state."""
    pattern = f"night:{now.isoformat()}%"
    with rt.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT status::text, count(*) FROM procrastinate_jobs "
                "WHERE queueing_lock LIKE :pattern GROUP BY status"
            ),
            {"pattern": pattern},
        ).all()
    return {str(status): int(count) for status, count in rows}


def wait_for_night(
    rt: Runtime, *, now: datetime, timeout: float, poll: float = 1.0
) -> dict[str, int]:
    """Poll until none of the night's tasks waits or runs (or ``timeout`` seconds pass)."""
    deadline = time.monotonic() + timeout
    while True:
        status = night_status(rt, now=now)
        pending = status.get("todo", 0) + status.get("doing", 0)
        if (status and not pending) or time.monotonic() > deadline:
            return status
        time.sleep(poll)


def run_queue_worker(
    rt: Runtime,
    *,
    concurrency: int = 1,
    once: bool = False,
    name: str | None = None,
    queues: Sequence[str] = QUEUES,
    retry_horizon: float = 120.0,
) -> None:
    """Run tasks from every careloop queue until stopped.

    ``once`` means what ``careloop worker --once`` means: the due periodic jobs and the
    outbox are queued now, then tasks run until none waits or runs anywhere, including
    retries scheduled within ``retry_horizon`` seconds (a slice that collided with a
    concurrent tick retries after a few seconds; leaving it behind would leave part of the
    night undone).
    """
    if concurrency < 1:
        raise InvalidInput("concurrency must be at least 1", field="concurrency")
    unknown = sorted(set(queues) - set(QUEUES))
    if unknown or not queues:
        raise InvalidInput(
            f"queues are {', '.join(QUEUES)}; not {', '.join(unknown) or 'none'}", field="queues"
        )
    app = build_app(rt)
    database = rt.engine.url.render_as_string(hide_password=False)
    options: dict[str, Any] = {
        "queues": list(queues),
        "concurrency": concurrency,
        "name": name,
        "additional_context": {"database": database},
    }
    put_back_stalled(app)
    if not once:
        app.run_worker(wait=True, **options)
        return
    with app.open():
        stamp = int(time.time())
        if "jobs" in queues:
            _defer_once(app.configure_task("careloop:careloop.retry_stalled"), timestamp=stamp)
            _defer_once(app.configure_task("careloop:careloop.jobs"), timestamp=stamp)
        if "outbox" in queues:
            _defer_once(app.configure_task("careloop:careloop.dispatch"), timestamp=stamp)
    watching_since: float | None = None  # only others' tasks running: since when
    while True:
        app.run_worker(wait=False, **options)
        delay, others_only = _next_work_in(rt, queues)
        if delay is None or delay > retry_horizon:
            return
        if not others_only:
            watching_since = None
        elif watching_since is None:
            watching_since = time.monotonic()
        elif time.monotonic() - watching_since > retry_horizon:
            return  # always-on workers' endless tasks are theirs to finish
        else:
            put_back_stalled(app)  # a task "running" in a killed worker comes back to todo
        time.sleep(max(0.0, delay) + 0.1)


RUNNING_POLL = 0.5
"""Seconds between looks while only another worker's tasks run (``--once``)."""


def _next_work_in(rt: Runtime, queues: Sequence[str]) -> tuple[float | None, bool]:
    """Seconds until a task of careloop's queues may be there to run: the next one scheduled,
    or :data:`RUNNING_POLL` while only other workers' tasks run, since a running task may
    defer more (the night task defers its slices as it runs: a ``--once`` worker that left
    then would leave the whole night to the first). None: nothing waits or runs; the flag
    says only other workers' tasks run."""
    with rt.engine.connect() as conn:
        seconds, running = conn.execute(
            text(
                "SELECT EXTRACT(EPOCH FROM min(coalesce(scheduled_at, now())) "
                "FILTER (WHERE status = 'todo') - now()), "
                "count(*) FILTER (WHERE status = 'doing') "
                "FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                "AND queue_name = ANY(:queues)"
            ),
            {"queues": list(queues)},
        ).one()
    if seconds is not None:
        return float(seconds), False
    return (RUNNING_POLL, True) if running else (None, False)
