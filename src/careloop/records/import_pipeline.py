"""Two batches of a file import written at once, on two connections (PostgreSQL).

A batch's transaction alternates between this process (linking patients, building the COPY
text) and the server (parsing and indexing the rows, projecting their facts), each waiting
for the other. With two batches in flight, one is built while the server works on the other.

What a reader sees stays as if the batches were written one after the other:

- **Commits keep the input's order.** A batch commits only once the batch before it has
  committed; if that one did not, this one is rolled back too, and both are written again
  one after the other (``_BatchWriter``: the batch, then each file alone), so a bad file is
  still reported and leaves nothing behind while the others are kept.
- **A resource in both batches ends as the later one has it.** The later batch does not
  COPY the earlier one's keys (it would wait for the earlier transaction, then fail): they
  take the upsert, issued only once the earlier batch has written everything, so the
  server makes it wait for the earlier commit and then update (``store.write_resources``'
  ``pending``). The audit chain's head, locked until commit, is taken in the same order.
- **Patients are linked against committed records.** A batch whose Patients or patient
  references meet the earlier batch's Patients waits for it to finish before it starts.
- **No wait is left to chance.** The one wait the server cannot see is the later batch's
  wait for the earlier one; while it waits it asks the server whether the earlier batch is
  blocked by it (``pg_blocking_pids``), and if so rolls back to be written again afterwards.
"""

from __future__ import annotations

import contextvars
import threading
from collections import deque
from collections.abc import Callable, Collection
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import psycopg
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from careloop.records.extract import IndexedResource

DEPTH = 2
"""Batches in flight at once: one built while the server works on the other."""
POLL_S = 0.05
"""How often a waiting batch asks whether it blocks the batch it waits for."""


class Unit(Protocol):
    @property
    def resources(self) -> list[IndexedResource]: ...


class Writer(Protocol):
    """What the pipeline needs of the importer's batch writer."""

    def write_in(self, session: Session, units: list[Any], overlap: Overlap) -> object:
        """Write ``units`` in ``session``'s transaction (not committed); returns what
        :meth:`record` takes once it is."""

    def record(self, units: list[Any], written: object) -> None:
        """Count committed units in the import's summary."""

    def write_serially(self, units: list[Any]) -> None:
        """Write ``units`` alone: the batch, then each unit alone if that fails."""

    def forget_patients(self) -> None:
        """Forget remembered patient links: a transaction that made some was rolled back."""

    def session(self) -> Session: ...


@dataclass(frozen=True)
class Overlap:
    """Handed to ``write_units`` when another batch may be writing meanwhile."""

    pending: Collection[tuple[str, str]]
    """The other batch's resource keys (written by it, not committed yet)."""
    wait_prior: Callable[[], None]
    """Waits until the batch before has written everything (before upserting its keys and
    before taking the audit chain's head, so both come after its own, in input order)."""
    written: Callable[[], None]
    """Called once this batch has written everything but its commit."""


class _Redo(Exception):
    """This batch must be rolled back and written again after the one before it."""


class _Batch:
    def __init__(self, units: list[Any], label: Any, prior: _Batch | None) -> None:
        self.units = units
        self.label = label
        self.prior = prior
        self.keys = frozenset(
            (r.resource_type, r.fhir_id) for unit in units for r in unit.resources
        )
        self.patients = frozenset(
            f"Patient/{r.fhir_id}"
            for unit in units
            for r in unit.resources
            if r.resource_type == "Patient"
        )
        self.refs = frozenset(r.patient_ref for unit in units for r in unit.resources) - {None}
        self.written = threading.Event()
        self.finished = threading.Event()
        self.committed = False
        self.backend_pid: int | None = None
        self.future: Future[None] | None = None

    def meets(self, other: _Batch) -> bool:
        """Whether this batch's patients could be linked to ``other``'s uncommitted ones."""
        return not (
            other.patients.isdisjoint(self.patients) and other.patients.isdisjoint(self.refs)
        )


class Pipeline:
    """Writes batches, up to :data:`DEPTH` at once; :meth:`put` and :meth:`finish` return
    the labels of the batches finished (committed, or written again one by one), in input
    order."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.threads = ThreadPoolExecutor(max_workers=DEPTH, thread_name_prefix="import-write")
        self.flight: deque[_Batch] = deque()

    def put(self, units: list[Any], label: Any) -> list[Any]:
        done = self._settle(DEPTH - 1)
        batch = _Batch(units, label, self.flight[-1] if self.flight else None)
        prior = batch.prior
        if prior is not None and (prior.finished.is_set() or batch.meets(prior)):
            # Nothing to overlap, or patients to link against its records: after it (and
            # after it is written again if it failed).
            done += self._settle(0)
            batch.prior = None
        context = contextvars.copy_context()
        batch.future = self.threads.submit(context.run, self._write, batch)
        self.flight.append(batch)
        return done

    def finish(self) -> list[Any]:
        try:
            return self._settle(0)
        finally:
            self.threads.shutdown()

    def close(self) -> None:
        """Stop after an error: wait for what is in flight, start nothing more."""
        for batch in self.flight:
            batch.finished.wait()
        self.threads.shutdown()

    def _settle(self, keep: int) -> list[Any]:
        """Wait until at most ``keep`` batches are in flight; a batch that did not commit
        is written again, with every batch after it, one after the other."""
        done: list[Any] = []
        while len(self.flight) > keep:
            batch = self.flight.popleft()
            assert batch.future is not None
            batch.future.result()  # an error that is not the database's is raised here
            if batch.committed:
                done.append(batch.label)
                continue
            again = [batch, *self.flight]
            self.flight.clear()
            for later in again[1:]:
                assert later.future is not None
                later.future.result()
            self.writer.forget_patients()
            for later in again:
                if later.committed:  # never: each waits for the one before it
                    done.append(later.label)
                    continue
                self.writer.write_serially(later.units)
                done.append(later.label)
        return done

    def _write(self, batch: _Batch) -> None:
        prior = batch.prior
        try:
            session = self.writer.session()
            try:
                connection = session.connection().connection.driver_connection
                batch.backend_pid = connection.info.backend_pid  # type: ignore[union-attr]
                overlap = Overlap(
                    pending=prior.keys if prior is not None else (),
                    wait_prior=(
                        (lambda: _await(session, batch, prior.written)) if prior else _no_wait
                    ),
                    written=batch.written.set,
                )
                written = self.writer.write_in(session, batch.units, overlap)
                if prior is not None:
                    _await(session, batch, prior.finished)
                    if not prior.committed:
                        raise _Redo
                session.commit()
            except (SQLAlchemyError, psycopg.Error, _Redo):
                session.rollback()
                return
            finally:
                session.close()
                batch.written.set()
            batch.committed = True
            self.writer.record(batch.units, written)
        finally:
            batch.written.set()
            batch.finished.set()


def _no_wait() -> None:
    pass


def _await(session: Session, batch: _Batch, event: threading.Event) -> None:
    """Wait for the batch before this one; give up (:class:`_Redo`) if it waits for us."""
    prior = batch.prior
    assert prior is not None
    while not event.wait(POLL_S):
        if prior.finished.is_set():
            return  # ended without the event (it failed early): the caller sees it did
        if prior.backend_pid is None:
            continue
        blockers = session.execute(
            text("SELECT pg_blocking_pids(:pid)"), {"pid": prior.backend_pid}
        ).scalar_one()
        if batch.backend_pid in (blockers or ()):
            raise _Redo
