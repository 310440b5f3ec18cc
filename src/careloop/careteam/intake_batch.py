"""Group commit for the feedback intake: many requests, one transaction every ~20 ms.

Each ``POST /fhir/Observation`` used to commit on its own, and every commit waits for the
audit chain's head row and a WAL flush, so at 200 events/s the requests queued behind one
another's commits. Here a request hands its work to the process's batcher and waits; the
batcher runs the work of everything that arrived within ``window`` seconds in one
transaction, a savepoint each (a refused input undoes only itself, as on the MQTT path),
commits once, then answers every waiting request. A request is answered only after its
commit, so an acknowledged reading and its alert are on the worklist.

If the shared commit fails, each piece of work is run again in a transaction of its own,
so one bad input cannot lose its neighbours.

Work may also come with an ``item`` for the batcher's ``bulk`` handler, which takes all
of a batch's items at once (``intake_many``: set-wise, a few round trips per batch instead
of a dozen per reading). The handler answers per item: ``(True, value)``, ``(False,
exception)``, or None to have that item's own ``work`` run as above; if the handler
fails, every item's ``work`` is.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.orm import Session

log = logging.getLogger("careloop.careteam.intake_batch")
T = TypeVar("T")
Work = Callable[[Session], Any]
Bulk = Callable[[Session, list[Any]], list[tuple[bool, Any] | None]]


@dataclass
class _Job:
    work: Work
    item: Any = None
    future: Future[Any] = field(default_factory=Future)


class IntakeBatcher:
    """One thread per process committing queued intake work in batches."""

    def __init__(
        self,
        transaction: Callable[[], AbstractContextManager[Session]],
        *,
        window: float = 0.02,
        max_batch: int = 200,
        bulk: Bulk | None = None,
    ) -> None:
        self._transaction = transaction
        self._bulk = bulk
        self._window = window
        self._max_batch = max_batch
        self._inbox: queue.Queue[_Job] = queue.Queue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[Session], T], *, item: Any = None, timeout: float = 60.0) -> T:
        """Run ``work(session)`` (or ``item`` through ``bulk``) in the next batch; its result
        or its exception, after commit."""
        result: T = self.enqueue(work, item=item).result(timeout=timeout)
        return result

    def enqueue(self, work: Callable[[Session], T], *, item: Any = None) -> Future[T]:
        """:meth:`submit` without waiting: the future is set after the batch's commit (an
        ``async`` route awaits it without holding a worker thread)."""
        job = _Job(work, item)
        self._start()
        self._inbox.put(job)
        return job.future

    def _start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._loop, name="intake-batcher", daemon=True
                )
                self._thread.start()

    def _take(self) -> list[_Job]:
        batch = [self._inbox.get()]
        deadline = time.monotonic() + self._window
        while len(batch) < self._max_batch:
            left = deadline - time.monotonic()
            try:
                batch.append(
                    self._inbox.get(timeout=left) if left > 0 else self._inbox.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _loop(self) -> None:
        while True:
            self.run_batch(self._take())

    def run_batch(self, batch: list[_Job]) -> None:
        """One transaction for ``batch``; on a failed commit, each job on its own."""
        outcomes: list[tuple[_Job, bool, Any]] = []
        try:
            with self._transaction() as session:
                for job in self._run_bulk(session, batch, outcomes):
                    try:
                        with session.begin_nested():
                            outcomes.append((job, True, job.work(session)))
                    except Exception as exc:  # handed to the waiting request, which raises it
                        outcomes.append((job, False, exc))
        except Exception:
            for job in batch:
                self._alone(job)
            return
        for job, ok, value in outcomes:
            if ok:
                job.future.set_result(value)
            else:
                job.future.set_exception(value)

    def _run_bulk(
        self, session: Session, batch: list[_Job], outcomes: list[tuple[_Job, bool, Any]]
    ) -> list[_Job]:
        """The bulk handler on the batch's items; returns the jobs left to run one by one."""
        bulk = [j for j in batch if j.item is not None] if self._bulk is not None else []
        if not bulk or self._bulk is None:
            return batch
        try:
            with session.begin_nested():
                answers = self._bulk(session, [j.item for j in bulk])
        except Exception:  # each job's own work, in its own savepoint, below
            log.exception("intake batch: taken one by one instead")
            return batch
        rest = [j for j in batch if j.item is None]
        for job, answer in zip(bulk, answers, strict=True):
            if answer is None:
                rest.append(job)
            else:
                outcomes.append((job, answer[0], answer[1]))
        return rest

    def _alone(self, job: _Job) -> None:
        try:
            with self._transaction() as session:
                value = job.work(session)
        except Exception as exc:
            job.future.set_exception(exc)
            return
        job.future.set_result(value)
