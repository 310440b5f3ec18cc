"""``careloop nightly``: every program's care gaps, a decision per eligible patient, messages
into the outbox, for the whole population, in slices of patients that run side by side.

A night is one *opening* tick, then the *slices*:

- the opening tick learns from the event log, follows every active enrollment's outcome,
  enrolls appointment journeys and sends steps left due by earlier nights (one transaction,
  exactly as ``careloop outreach tick`` without care-gap identification);
- each slice is a tick over ~``slice_size`` patients for the care-gap programs only: those
  programs' eligibility (read from the identification projection, ``records.projection``),
  enrollment, the engine's decision and the outbox row for each newly due step. One slice
  is one transaction, so a crash loses at most one slice, and running it again is a no-op
  for what was committed (enrollment and ``eligible`` events are idempotent per period).

``--shard K/M`` makes this machine take the patients whose id hashes to K modulo M (stable
across machines, no coordination), so M machines share one PostgreSQL; ``--workers N`` runs
this machine's slices in N processes. The slices are as many as ``slice_size`` (an upper
bound) asks for, rounded up to a multiple of N: 5,000 patients at 2,000 make 4 slices of
~1,250, not 3 of ~1,667 whose last would run alone on one core (docs/benchmarks.md, ntL).
On PostgreSQL a slice is a range of ``hashtext(id)`` (read through ``ix_patients_id_hash``,
as the queue's slices are), so the coordinator counts the patients and never holds their
ids (10M ids were ~1 GB in the coordinator); SQLite, the single-file default, runs the
slices in this process and deals them in id order. Due steps are claimed with ``FOR UPDATE
SKIP LOCKED`` (``outreach.due_steps``), so slices never send the same step twice.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from multiprocessing import get_context
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, and_, func, literal, select
from sqlalchemy.orm import Session

from careloop import collector
from careloop.audit import AuditAction, Auditor, Purpose
from careloop.compose.outreach import run_tick, tick_context
from careloop.content.service import require_approved_content
from careloop.conversations.journeys import run_tick as tick_and_hand_off
from careloop.errors import InvalidInput
from careloop.governance.consent import share_consent_reads
from careloop.models import Patient
from careloop.outreach.audience import SliceReads
from careloop.outreach.config import outreach_settings
from careloop.outreach.eligibility import AppointmentEligibility, Candidate, care_gap_candidates
from careloop.outreach.program import OutreachProgram
from careloop.outreach.service import load_outreach_programs
from careloop.personalize.arrays import one_blas_thread
from careloop.programs.service import evaluate_program, run_program
from careloop.programs.windows import resolve_window
from careloop.records.projection import SharedFacts, share_facts
from careloop.records.projection_defer import SEED_PATIENTS, TALLY, seeding
from careloop.records.service import patient_ids
from careloop.runtime import Runtime, open_runtime
from careloop.security.principal import SYSTEM_WORKER

SLICE_SIZE = 2000
ACTOR = "system:nightly"
COUNTS = ("patients", "gaps", "enrolled", "decided", "enqueued")


@dataclass
class NightlyReport:
    """Counts only (no patient data): what the night found and did."""

    patients: int = 0
    gaps: int = 0
    enrolled: int = 0
    decided: int = 0
    enqueued: int = 0
    slices: int = 0
    opening: dict[str, Any] = field(default_factory=dict)

    def add(self, counts: dict[str, int]) -> None:
        for key in COUNTS:
            setattr(self, key, getattr(self, key) + counts.get(key, 0))
        self.slices += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            **{key: getattr(self, key) for key in COUNTS},
            "slices": self.slices,
            "opening": self.opening,
        }


@dataclass
class SliceEligibility:
    """Care-gap eligibility for the patients of one slice (an ``EligibilitySource``)."""

    patient_ids: list[str]
    gaps: int = 0
    eligible: set[str] = field(default_factory=set)

    def __call__(
        self, session: Session, *, program: OutreachProgram, now: datetime
    ) -> Iterable[Candidate]:
        if program.source is None:
            return []
        run = run_program(
            session, program=program.source, now=now, actor=ACTOR, patient_ids=self.patient_ids
        )
        self.gaps += len(run.eligible)
        self.eligible.update(e.patient_id for e in run.eligible)
        return care_gap_candidates(program, run)  # the tick's candidates (``help_offer``)


def parse_shard(text: str) -> tuple[int, int]:
    """``K/M`` (this machine is shard K of M, counted from 0) as ``(K, M)``."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise InvalidInput(f"shard must be K/M, e.g. 0/2, not {text!r}", field="shard") from None
    if count < 1 or not 0 <= index < count:
        raise InvalidInput(f"shard {text!r}: need 0 <= K < M", field="shard")
    return index, count


def shard_of(ids: Iterable[str], *, shard: tuple[int, int] = (0, 1)) -> list[str]:
    """This machine's patients: those whose id hashes to K modulo M (the same on every
    machine, whatever its ``--workers``, so the shards hold every patient exactly once)."""
    index, count = shard
    if count == 1:
        return list(ids)
    return [pid for pid in ids if zlib.crc32(pid.encode()) % count == index]


def slice_count(patients: int, *, slice_size: int = SLICE_SIZE, workers: int = 1) -> int:
    """Slices for ``patients``: at most ``slice_size`` each, as many as a multiple of
    ``workers``, so no worker is left running the last slice alone."""
    count = max(1, math.ceil(patients / slice_size))
    return min(math.ceil(count / workers) * workers, max(1, patients))


def slices_of(
    ids: Sequence[str], *, slice_size: int = SLICE_SIZE, workers: int = 1
) -> list[list[str]]:
    """Patients in :func:`slice_count` slices, each within one patient of the others. Dealt
    in id order, so the slices do not depend on the input's order."""
    ordered = sorted(ids)
    count = slice_count(len(ordered), slice_size=slice_size, workers=workers)
    return [ordered[k::count] for k in range(count)]


HASHES = 2**32  # ``hashtext`` is a 32-bit signed integer


def hash_range(index: int, count: int) -> tuple[int, int]:
    """The ``hashtext(id)`` range ``[low, high)`` of slice ``index`` of ``count``: contiguous
    and equal ranges covering every hash, so each patient is in exactly one slice."""
    return (-(2**31) + index * HASHES // count, -(2**31) + (index + 1) * HASHES // count)


def in_hash_range(index: int, count: int) -> ColumnElement[bool]:
    """Patients of slice ``index`` of ``count`` by PostgreSQL's hash of their id: a range of
    ``ix_patients_id_hash`` (a modulo of the hash read the whole table for every slice)."""
    low, high = hash_range(index, count)
    hashed = func.hashtext(Patient.id)
    return and_(hashed >= literal(low, BigInteger), hashed < literal(high, BigInteger))


@dataclass(frozen=True)
class SlicePart:
    """Slice ``index`` of ``count`` of this machine's shard: what a worker is sent (no ids)."""

    index: int
    count: int
    shard: tuple[int, int] = (0, 1)


def plan_slices(
    session: Session,
    *,
    slice_size: int = SLICE_SIZE,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
) -> int:
    """How many slices this machine's patients make. PostgreSQL counts the patients and
    expects a shard's share (the CRC-32 split is even); no id is read."""
    if session.get_bind().dialect.name == "postgresql":
        total = session.scalar(select(func.count()).select_from(Patient)) or 0
        mine = math.ceil(total / shard[1])
    else:
        mine = len(shard_of(patient_ids(session), shard=shard))
    return slice_count(mine, slice_size=slice_size, workers=workers)


def slice_patients(session: Session, part: SlicePart) -> list[str]:
    """The patients of ``part``, in id order: on PostgreSQL those whose ``hashtext(id)``
    falls in its range (equal ranges: slices even to a few per cent); on SQLite (one
    process, a small population) every ``count``-th of the shard in id order."""
    if session.get_bind().dialect.name == "postgresql":
        query = select(Patient.id).where(in_hash_range(part.index, part.count))
        return shard_of(session.scalars(query.order_by(Patient.id)), shard=part.shard)
    mine = sorted(shard_of(patient_ids(session), shard=part.shard))
    return mine[part.index :: part.count]


def night_facts(programs: Sequence[OutreachProgram]) -> SharedFacts | None:
    """One read of each patient's facts for all of a slice's programs (the union of their
    codes), instead of one per program; None when a program reads whole resources."""
    codes: set[str] = set()
    always: set[str] = set()
    for program in programs:
        source = program.source
        if source is None or source.load_codes is None:
            return None
        codes.update(source.load_codes)
        always.update(source.always_types)
    return SharedFacts(codes=codes, always=always, defer=True)


def seed_fact_tally(
    rt: Runtime, *, programs: Sequence[OutreachProgram], patient_ids: list[str], now: datetime
) -> None:
    """Once per process, before its first slice: every program evaluated on a sample of the
    slice's patients, nothing written, so the fact read knows which types' facts this night
    decodes (``records.projection_defer``) before its first slice, not after it."""
    if TALLY.seeded or rt.engine.dialect.name != "postgresql":
        return
    sample = patient_ids[:SEED_PATIENTS]
    with seeding(), rt.sessions() as session:
        share_facts(session, night_facts(programs))
        for outreach in programs:
            program = outreach.source
            if program is None:
                continue
            window = resolve_window(program.definition.period, now=now)
            for _ in evaluate_program(
                session, program=program, window=window, now=now, patient_ids=sample
            ):
                pass
        session.rollback()


def open_night(rt: Runtime, *, now: datetime) -> dict[str, Any]:
    """Learning, outcomes, appointment journeys and steps left due: once per night."""
    ctx = tick_context(rt, eligibility=AppointmentEligibility())
    with one_blas_thread():
        return run_tick(rt, ctx=ctx, now=now).as_dict()


def run_slice(rt: Runtime, *, patient_ids: list[str], now: datetime) -> dict[str, int]:
    """One slice: care-gap programs for these patients, in one transaction.

    The records read are audited once per slice: one event for each patient found with a
    care gap (whose record now drives outreach), or one without a patient when none was.
    """
    if not patient_ids:
        return {"patients": 0}
    with one_blas_thread():  # the engine's products on this core only (spinning threads)
        return _run_slice(rt, patient_ids=patient_ids, now=now)


def _run_slice(rt: Runtime, *, patient_ids: list[str], now: datetime) -> dict[str, int]:
    own, _ = outreach_settings(rt.settings)
    programs = [p for p in load_outreach_programs(own) if p.source is not None]
    seed_fact_tally(rt, programs=programs, patient_ids=patient_ids, now=now)
    eligibility = SliceEligibility(patient_ids)
    ctx = replace(
        tick_context(rt, programs=programs, eligibility=eligibility),
        learn=False,
        follow_outcomes=False,
        reads=SliceReads(),  # each patient's row, consent and profile once per slice
    )
    with rt.transaction() as session:
        if (shared := night_facts(programs)) is not None:
            share_facts(session, shared)
            del shared  # the session alone holds the facts, so they end with its transaction
        if ctx.reads is not None:  # the programs' opt-outs read them too
            share_consent_reads(session, ctx.reads.consent)
        report = tick_and_hand_off(session, ctx=ctx, now=now)
        counts = {
            "patients": len(patient_ids),
            "gaps": eligibility.gaps,
            "enrolled": report.enrolled,
            "decided": report.decided,
            "enqueued": report.queued + report.caregiver_queued,
        }
        Auditor(session, rt.clock, SYSTEM_WORKER, Purpose.OUTREACH)(
            AuditAction.READ,
            "nightly:care-gaps",
            sorted(eligibility.eligible) or [None],
            detail=counts,
        )
    return counts


def run_slice_part(rt: Runtime, *, part: SlicePart, now: datetime) -> dict[str, int]:
    """Slice ``part``: its patients read in a short transaction, then :func:`run_slice`."""
    with rt.transaction() as session:
        ids = slice_patients(session, part)
    return run_slice(rt, patient_ids=ids, now=now)


_PROCESS_RUNTIME: dict[str, Runtime] = {}


def _slice_in_process(job: tuple[str, SlicePart, str]) -> dict[str, int]:
    """A worker process's slice: its own runtime (one per process, opened on first use)."""
    database, part, moment = job
    rt = _PROCESS_RUNTIME.get(database)
    if rt is None:
        rt = _PROCESS_RUNTIME[database] = open_runtime(database=database, run_migrations=False)
        collector.settle_batch_process()
    return run_slice_part(rt, part=part, now=datetime.fromisoformat(moment))


def warm_worker(database: str) -> int:
    """Open the worker's runtime and load the programs (before a timed night)."""
    rt = _PROCESS_RUNTIME.get(database)
    if rt is None:
        rt = _PROCESS_RUNTIME[database] = open_runtime(database=database, run_migrations=False)
    own, _ = outreach_settings(rt.settings)
    loaded = len(load_outreach_programs(own))
    collector.settle_batch_process()
    return loaded


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """Processes for slices; spawned, so no connection or lock crosses a fork."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))


def run_nightly(
    rt: Runtime,
    *,
    database: str,
    now: datetime,
    workers: int = 1,
    shard: tuple[int, int] = (0, 1),
    slice_size: int = SLICE_SIZE,
    pool: Executor | None = None,
) -> NightlyReport:
    """The whole night (or this shard's part of it): opening tick, then the slices."""
    if workers < 1:
        raise InvalidInput("workers must be at least 1", field="workers")
    if workers > 1 and rt.engine.dialect.name != "postgresql":
        raise InvalidInput("several workers need PostgreSQL (SQLite runs one)", field="workers")
    with rt.transaction() as session:
        require_approved_content(session)
    report = NightlyReport()
    if shard[0] == 0:
        report.opening = open_night(rt, now=now)
    if rt.engine.dialect.name != "postgresql":
        # Dealt once, here: a slice re-reading the ids would shift its share whenever a
        # patient was added or removed since an earlier slice ran (one twice, one in none).
        with rt.transaction() as session:
            mine = shard_of(patient_ids(session), shard=shard)
        for ids in slices_of(mine, slice_size=slice_size, workers=workers):
            report.add(run_slice(rt, patient_ids=ids, now=now))
        return report
    with rt.transaction() as session:
        count = plan_slices(session, slice_size=slice_size, workers=workers, shard=shard)
    parts = [SlicePart(index, count, shard) for index in range(count)]
    if workers == 1 and pool is None:
        for part in parts:
            report.add(run_slice_part(rt, part=part, now=now))
        return report
    executor = pool or worker_pool(workers)
    try:
        jobs = [(database, part, now.isoformat()) for part in parts]
        for counts in executor.map(_slice_in_process, jobs):
            report.add(counts)
    finally:
        if pool is None:
            executor.shutdown()
    return report
