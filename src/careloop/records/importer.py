"""``careloop import``: FHIR R4 bundles and bulk NDJSON into the patient record.

Each file (or chunk of 2,000 NDJSON lines) is a unit: a bad record is reported and skipped,
the good ones are kept, and a unit that fails to write leaves nothing behind. Units are
written several to a transaction (the per-statement cost paid per batch); a batch that fails
is written again unit by unit.
Parsing and validation run in worker processes while the main process writes, so both cores
are busy. Importing the same input twice leaves the same rows (same FHIR id = update).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any

import orjson
import psycopg
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from careloop import collector
from careloop.clock import Clock
from careloop.events import EventKind, record_event
from careloop.models import FhirResource
from careloop.records.contacts_phone import DEFAULT_REGION
from careloop.records.copy_block import UnitRows, unit_rows
from careloop.records.extract import (
    IndexedResource,
    ResourceProblem,
    index_resource,
    load_validation,
)
from careloop.records.fhir_reader import (
    ReadResult,
    Rejection,
    discover_files,
    is_ndjson,
    iter_ndjson_chunks,
    read_json_file,
    read_ndjson_lines,
)
from careloop.records.identity import PatientIndex
from careloop.records.import_write import write_units
from careloop.records.projection import attach_dangling_facts
from careloop.records.timezones import load_finder
from careloop.security.principal import Principal


@dataclass
class PreparedUnit:
    """One unit of input, read and validated, ready to write."""

    file: str
    resources: list[IndexedResource] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    rows: UnitRows | None = None
    """Its resources' COPY lines, joined here (``records.copy_block``)."""


@dataclass
class ImportSummary:
    files: int = 0
    patients: set[str] = field(default_factory=set)
    resources: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    rejected: list[Rejection] = field(default_factory=list)
    unresolved_patient_references: int = 0
    identity_links: int = 0
    undialable_phones: int = 0
    """Phone numbers that are not possible numbers: kept for display, never dialled."""
    patient_ids: set[str] = field(default_factory=set)
    """careloop ids of the records this import wrote (for what runs after it)."""
    seconds: float = 0.0

    @property
    def read_anything(self) -> bool:
        return sum(self.resources.values()) > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "patients": len(self.patients),
            "resources": dict(sorted(self.resources.items())),
            "skipped": dict(sorted(self.skipped.items())),
            "rejected": [r.as_dict() for r in self.rejected],
            "unresolved_patient_references": self.unresolved_patient_references,
            "identity_links": self.identity_links,
            "undialable_phones": self.undialable_phones,
            "seconds": round(self.seconds, 3),
        }


def _prepare(read: ReadResult, *, keep_unsupported: bool) -> PreparedUnit:
    unit = PreparedUnit(file=read.file, rejected=list(read.rejected))
    for entry, resource in read.resources:
        try:
            indexed = index_resource(resource, parsed=True)
        except ResourceProblem as exc:
            unit.rejected.append(Rejection(read.file, entry, f"{resource['resourceType']}.{exc}"))
            continue
        if not indexed.supported and not keep_unsupported:
            unit.skipped[indexed.resource_type] += 1
            continue
        unit.resources.append(indexed)
    # The COPY lines made here, in the parser process: the writer joins them with the owner.
    unit.rows = unit_rows(unit.resources, parsed=True)
    return unit


def prepare_json_file(path: str, keep_unsupported: bool = True) -> PreparedUnit:
    """Read and validate one JSON file (runs in a worker process)."""
    return _prepare(read_json_file(Path(path)), keep_unsupported=keep_unsupported)


def prepare_ndjson_chunk(
    path: str, first_line: int, lines: list[bytes], keep_unsupported: bool = True
) -> PreparedUnit:
    """Read and validate a chunk of NDJSON lines (runs in a worker process)."""
    read = read_ndjson_lines(lines, file=path, first_line=first_line)
    return _prepare(read, keep_unsupported=keep_unsupported)


def _units(
    files: list[Path],
    *,
    keep_unsupported: bool,
    pool: Executor | None,
    while_first_parsed: Callable[[], None] | None = None,
) -> Iterator[PreparedUnit]:
    """Prepared units in input order; with a pool, read ahead while the caller writes.
    ``while_first_parsed`` runs once, after the first units are handed to the pool and
    before waiting for them (this process would otherwise be idle then)."""

    def submit(fn: Callable[..., PreparedUnit], *args: Any) -> Future[PreparedUnit] | PreparedUnit:
        return pool.submit(fn, *args) if pool else fn(*args)

    pending: deque[Future[PreparedUnit] | PreparedUnit] = deque()
    ahead = 2 * BATCH_UNITS
    for path in files:
        jobs: Iterable[tuple[Callable[..., PreparedUnit], tuple[Any, ...]]]
        if is_ndjson(path):
            jobs = (
                (prepare_ndjson_chunk, (str(path), first, lines, keep_unsupported))
                for first, lines in iter_ndjson_chunks(path)
            )
        else:
            jobs = [(prepare_json_file, (str(path), keep_unsupported))]
        for fn, args in jobs:
            pending.append(submit(fn, *args))
            while len(pending) > ahead:
                if while_first_parsed:
                    while_first_parsed()
                    while_first_parsed = None
                item = pending.popleft()
                yield item if isinstance(item, PreparedUnit) else item.result()
    if while_first_parsed:
        while_first_parsed()
    while pending:
        item = pending.popleft()
        yield item if isinstance(item, PreparedUnit) else item.result()


_TYPE = attrgetter("resource_type")
BATCH_UNITS = 16
BATCH_RESOURCES = 5000
FIRST_BATCH_UNITS = 2


def _batches(units: Iterable[PreparedUnit]) -> Iterator[list[PreparedUnit]]:
    """Units grouped for one transaction: up to ``BATCH_UNITS`` units or about
    ``BATCH_RESOURCES`` resources (a Synthea file is one patient; an NDJSON chunk 2,000).

    The first batches are smaller (``FIRST_BATCH_UNITS``, then twice as many each time up to
    ``BATCH_UNITS``): the writer and the server are the import's chain, and a first batch of
    ``BATCH_UNITS`` kept the chain waiting until that many units were parsed; a small one
    starts it as soon as each parser has one, and the parsers fill the next while it is
    written."""
    batch: list[PreparedUnit] = []
    size = 0
    most = min(FIRST_BATCH_UNITS, BATCH_UNITS)
    for unit in units:
        batch.append(unit)
        size += len(unit.resources)
        if len(batch) >= most or size >= BATCH_RESOURCES:
            yield batch
            batch, size = [], 0
            most = min(2 * most, BATCH_UNITS)
    if batch:
        yield batch


class _BatchWriter:
    """Writes a batch of units in one transaction; if that fails, each unit alone, so a
    unit that cannot be written is reported and leaves nothing behind while the others of
    its batch are kept."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        summary: ImportSummary,
        *,
        clock: Clock,
        principal: Principal,
        default_timezone: str,
        default_region: str,
    ) -> None:
        self.sessions = sessions
        self.summary = summary
        self.index = PatientIndex()
        with sessions() as session:  # empty: what this import commits is all that is stored
            began_empty = session.scalar(select(FhirResource.fhir_id).limit(1)) is None
        self.written: set[tuple[str, str]] = set()
        self.options: dict[str, Any] = {
            "clock": clock,
            "principal": principal,
            "default_timezone": default_timezone,
            "default_region": default_region,
            "written": self.written if began_empty else None,
        }

    def __call__(self, batch: list[PreparedUnit]) -> None:
        for unit in batch:
            self.summary.rejected.extend(unit.rejected)
            self.summary.skipped.update(unit.skipped)
        units = [unit for unit in batch if unit.resources]
        if not units:
            return
        problem = self._write(units)
        if problem is None:
            return
        if len(units) == 1:
            self._reject(units[0], problem)
            return
        for unit in units:
            alone = self._write([unit])
            if alone is not None:
                self._reject(unit, alone)

    def _write(self, units: list[PreparedUnit]) -> Exception | None:
        session = self.sessions()
        try:
            touched, linked, undialable, keys = write_units(
                session, units, index=self.index, **self.options
            )
            session.commit()
        except (SQLAlchemyError, psycopg.Error) as exc:
            session.rollback()
            self.index = PatientIndex()  # it may remember records that were rolled back
            return exc
        finally:
            session.close()
        summary = self.summary
        self.written.update(keys)
        for unit in units:
            summary.patients.update(
                r.fhir_id for r in unit.resources if r.resource_type == "Patient"
            )
            summary.resources.update(map(_TYPE, unit.resources))
        summary.identity_links += linked
        summary.undialable_phones += undialable
        summary.patient_ids.update(touched)
        return None

    def _reject(self, unit: PreparedUnit, problem: Exception) -> None:
        self.summary.rejected.append(
            Rejection(unit.file, None, f"not stored: database error ({type(problem).__name__})")
        )


def _load_finder_frozen() -> None:
    """The writer resolves patients' time zones (``identity.refresh_demographics``), not the
    parsers: its finder (~0.2 s of imports) joins what the collector's passes skip."""
    load_finder()
    collector.refreeze()


def _load_finder_aside() -> None:
    """Load the finder in a thread, after the parsers forked: it runs while the writer waits
    for the parsers and the server (the GIL is free then) instead of before the first batch,
    which it delayed ~0.1 s, the whole import's chain of writer and server waiting. The
    first patient's time zone waits for it (``timezones._finder``)."""
    threading.Thread(target=_load_finder_frozen, name="careloop-tz-finder", daemon=True).start()


def resolve_dangling_references(session: Session) -> int:
    """Attach resources read before their Patient; returns how many still point nowhere."""
    patient = FhirResource.__table__.alias("p")
    owner = (
        select(patient.c.patient_id)
        .where(patient.c.resource_type == "Patient")
        .where(FhirResource.patient_ref == "Patient/" + patient.c.fhir_id)
        .scalar_subquery()
    )
    session.execute(
        update(FhirResource)
        .where(FhirResource.patient_id.is_(None), FhirResource.patient_ref.is_not(None))
        .values(patient_id=owner)
        .execution_options(synchronize_session=False)
    )
    attach_dangling_facts(session)
    dangling = session.scalars(
        select(FhirResource.fhir_id).where(
            FhirResource.patient_id.is_(None), FhirResource.patient_ref.is_not(None)
        )
    ).all()
    return len(dangling)


def import_bundle(
    sessions: sessionmaker[Session],
    *,
    engine: Engine,
    bundle: dict[str, Any],
    name: str,
    clock: Clock,
    principal: Principal,
    default_timezone: str,
    default_region: str = DEFAULT_REGION,
) -> ImportSummary:
    """Import a Bundle held in memory (a demo's or a pilot's patients) by the path files take,
    in this process: written as ``<name>.json`` to a temporary folder, then imported."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{name}.json"
        path.write_bytes(orjson.dumps(bundle))
        return import_paths(
            sessions,
            engine=engine,
            paths=[path],
            clock=clock,
            principal=principal,
            default_timezone=default_timezone,
            default_region=default_region,
            workers=0,
        )


def import_paths(
    sessions: sessionmaker[Session],
    *,
    engine: Engine,
    paths: Sequence[Path],
    clock: Clock,
    principal: Principal,
    default_timezone: str,
    default_region: str = DEFAULT_REGION,
    keep_unsupported: bool = True,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    """Import FHIR files and folders; each unit commits on its own."""
    started = time.perf_counter()
    summary = ImportSummary()
    files, problems = discover_files(paths)
    summary.rejected.extend(problems)
    summary.files = len(files)
    use_pool = workers != 0 and (len(files) > 4 or any(is_ndjson(f) for f in files))
    if use_pool:
        load_validation()
    pool: ProcessPoolExecutor | None = (
        ProcessPoolExecutor(max_workers=workers or 2) if use_pool else None
    )
    write = _BatchWriter(
        sessions,
        summary,
        clock=clock,
        principal=principal,
        default_timezone=default_timezone,
        default_region=default_region,
    )
    done = 0
    # Objects alive before the run (modules, models, compiled checks) are not this run's
    # garbage: frozen, the collector's full passes skip them, here and in the parsers forked
    # after this (at the pool's first submit). Those passes cost ~0.3 of the writer's 1.1 CPU
    # seconds and ~0.45 of the parsers' 2.2 for 100 Synthea files. Given back at the end.
    collector.hold()
    try:
        warm = _load_finder_aside if pool is not None else None
        units = _units(files, keep_unsupported=keep_unsupported, pool=pool, while_first_parsed=warm)
        for batch in _batches(units):
            write(batch)
            for unit in batch:
                done += 1
                if progress and not is_ndjson(Path(unit.file)):
                    progress(done, len(files))
    finally:
        try:
            if pool is not None:
                pool.shutdown()
                load_finder()  # waits for the thread's load: none outlives the import
        finally:
            collector.release()
    with sessions() as session:
        summary.unresolved_patient_references = resolve_dangling_references(session)
        if summary.read_anything:
            record_event(
                session,
                kind=EventKind.IMPORTED,
                clock=clock,
                actor=principal.actor,
                payload={
                    "files": summary.files,
                    "resources": dict(summary.resources),
                    "rejected": len(summary.rejected),
                },
            )
        session.commit()
    summary.seconds = time.perf_counter() - started
    return summary
