"""Writing an import's prepared units: several files to a transaction, and each file alone
when its batch fails (``records.importer`` reads them, ``records.import_pipeline`` overlaps
two batches on PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import psycopg
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from careloop.audit import AuditAction, AuditEntry, Purpose, audit_entries
from careloop.clock import Clock
from careloop.models import Caregiver
from careloop.records.availability import from_extension
from careloop.records.caregivers import caregiver_row
from careloop.records.contacts import index_contacts
from careloop.records.contacts_phone import DEFAULT_REGION
from careloop.records.extract import IndexedResource
from careloop.records.fhir_reader import Rejection
from careloop.records.identity import PatientIndex, link_patients, refresh_demographics
from careloop.records.import_pipeline import Overlap
from careloop.records.store import upsert_rows, write_resources
from careloop.records.store_copy import Stamp
from careloop.security.principal import Principal


@dataclass
class PreparedUnit:
    """One unit of input, read and validated, ready to write."""

    file: str
    resources: list[IndexedResource] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


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


def write_units(
    session: Session,
    units: Sequence[PreparedUnit],
    *,
    clock: Clock,
    principal: Principal,
    index: PatientIndex,
    default_timezone: str,
    default_region: str = DEFAULT_REGION,
    overlap: Overlap | None = None,
) -> tuple[set[str], int, int]:
    """Write prepared units in the caller's transaction; returns (patients touched, identity
    links made, phone numbers that could not be read).

    The units are written as if one after the other (a resource in two of them ends as the
    later one has it, each keeps its own source and import time, one audit entry each), but
    patients are linked, resources copied and records refreshed once for all of them: the
    per-statement cost is paid per batch, not per file. ``overlap``: another batch of this
    import is being written meanwhile on another connection (``records.import_pipeline``).
    """
    latest: dict[tuple[str, str], tuple[IndexedResource, Stamp]] = {}
    for unit in units:
        stamp = (Path(unit.file).name, clock.now())
        for res in unit.resources:
            # The later unit's version, in the place where it was first read.
            latest[(res.resource_type, res.fhir_id)] = (res, stamp)
    resources = [res for res, _ in latest.values()]
    stamps = [stamp for _, stamp in latest.values()]
    now = stamps[0][1] if stamps else clock.now()
    patients = [r for r in resources if r.resource_type == "Patient"]
    links = link_patients(session, patients=patients, now=now)
    for fhir_id, patient_id in links.patient_ids.items():
        index.remember(fhir_id, patient_id)
    refs = index.resolve(session, {r.patient_ref for r in resources if r.patient_ref})

    owners = [refs.get(res.patient_ref) if res.patient_ref else None for res in resources]
    write_resources(
        session, resources, owners, source="", now=now, stamps=stamps,
        pending=overlap.pending if overlap else (),
        before_pending=overlap.wait_prior if overlap else None,
    )  # fmt: skip

    undialable = refresh_demographics(
        session,
        patient_ids=set(links.patient_ids.values()),
        now=now,
        default_timezone=default_timezone,
        default_region=default_region,
    )
    _write_caregivers(session, resources, refs, now=now, default_region=default_region)
    entries = []
    touched: set[str] = set()
    for unit in units:
        owned = {refs[r.patient_ref] for r in unit.resources if r.patient_ref in refs}
        if owned:
            touched.update(owned)
            entries.append(
                AuditEntry(
                    principal,
                    AuditAction.UPDATE,
                    "fhir-import",
                    Purpose.IMPORT,
                    patient_ids=tuple(sorted(owned)),
                    detail={"source": Path(unit.file).name},
                )
            )
    if overlap is not None:
        # The audit chain's head is locked until commit: taken in the batches' order.
        overlap.wait_prior()
    audit_entries(session, clock=clock, entries=entries)
    if overlap is not None:
        overlap.written()
    return touched, links.linked_by_identifier, undialable


def _write_caregivers(
    session: Session,
    resources: list[IndexedResource],
    refs: dict[str, str],
    *,
    now: Any,
    default_region: str,
) -> None:
    rows = []
    for res in resources:
        if res.resource_type != "RelatedPerson" or not res.patient_ref:
            continue
        patient_id = refs.get(res.patient_ref)
        if patient_id is None:
            continue
        rows.append(
            caregiver_row(
                res.resource,
                patient_id=patient_id,
                now=now,
                windows=from_extension(res.resource),
                default_region=default_region,
            )
        )
    upsert_rows(session, Caregiver, rows, ("id",))
    for row in rows:
        index_contacts(
            session,
            patient_id=row["patient_id"],
            points=row["contact_points"],
            caregiver_id=row["id"],
        )


class BatchWriter:
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
        self.options: dict[str, Any] = {
            "clock": clock,
            "principal": principal,
            "default_timezone": default_timezone,
            "default_region": default_region,
        }

    def __call__(self, batch: list[PreparedUnit]) -> None:
        self.write_serially(self.take(batch))

    def take(self, batch: list[PreparedUnit]) -> list[PreparedUnit]:
        """Count the batch's rejected and skipped records; returns its units to write."""
        for unit in batch:
            self.summary.rejected.extend(unit.rejected)
            self.summary.skipped.update(unit.skipped)
        return [unit for unit in batch if unit.resources]

    def write_serially(self, units: list[PreparedUnit]) -> None:
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
            written = self.write_in(session, units, None)
            session.commit()
        except (SQLAlchemyError, psycopg.Error) as exc:
            session.rollback()
            self.forget_patients()  # it may remember records that were rolled back
            return exc
        finally:
            session.close()
        self.record(units, written)
        return None

    # What records.import_pipeline asks of a writer (two batches written at once).

    def session(self) -> Session:
        return self.sessions()

    def write_in(
        self, session: Session, units: list[PreparedUnit], overlap: Overlap | None
    ) -> tuple[set[str], int, int]:
        return write_units(session, units, index=self.index, overlap=overlap, **self.options)

    def record(self, units: list[PreparedUnit], written: object) -> None:
        touched, linked, undialable = cast(tuple[set[str], int, int], written)
        summary = self.summary
        for unit in units:
            summary.patients.update(
                r.fhir_id for r in unit.resources if r.resource_type == "Patient"
            )
            summary.resources.update(r.resource_type for r in unit.resources)
        summary.identity_links += linked
        summary.undialable_phones += undialable
        summary.patient_ids.update(touched)

    def forget_patients(self) -> None:
        self.index = PatientIndex()

    def _reject(self, unit: PreparedUnit, problem: Exception) -> None:
        self.summary.rejected.append(
            Rejection(unit.file, None, f"not stored: database error ({type(problem).__name__})")
        )
