"""Bulk Data Access (IG v2) ``$export``: NDJSON per resource type, for the whole system,
the Patient compartment, or a Group (a segment or a program's enrolled patients).

The kick-off only records the request (``in-progress``); the ``fhir-exports`` job writes the
files in a worker (``fhir.export_jobs``), never in the request, and keeps them as rows
(``bulk_exports``, ``bulk_export_files``), so any server process can answer the status
poll (202 with ``Retry-After`` until done) and serve the files. Only the requester may poll
or download; every exported patient is audited as an export.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose, audit
from careloop.clock import Clock
from careloop.db import get_or_missing
from careloop.errors import InvalidInput, NotFound
from careloop.fhir.versions import with_meta
from careloop.fhir.writeback import PROJECTED
from careloop.fhirdata.dates import start as parse_fhir_datetime
from careloop.models import BulkExport, BulkExportFile
from careloop.outreach.service import list_enrollments
from careloop.programs.segments.service import segment_members
from careloop.records.fhir_query import StoredResource, stored_resources, stored_types
from careloop.security.principal import Principal
from careloop.security.roles import Role

NDJSON = "application/fhir+ndjson"
_ZONED = re.compile(r"(Z|[+-]\d\d:\d\d)$")
OUTPUT_FORMATS = frozenset({NDJSON, "application/ndjson", "ndjson"})
SEGMENT_GROUP = "segment-"
PROGRAM_GROUP = "program-"


@dataclass(frozen=True)
class ExportRequest:
    level: str  # system | patient | group
    types: tuple[str, ...]
    since: datetime | None
    group_id: str | None
    request_url: str


@lru_cache(maxsize=256)
def is_resource_type(name: str) -> bool:
    """A FHIR R4 resource type (``Observation``), not a typo (``Observations``) nor a data
    type: an export of a misspelled type would answer an empty manifest, as if none held."""
    if not name.isalpha() or not name[:1].isupper() or name in ("Resource", "DomainResource"):
        return False
    from fhir.resources.R4B import get_fhir_model_class  # the models load on first use
    from fhir.resources.R4B.resource import Resource

    try:
        return issubclass(get_fhir_model_class(name), Resource)
    except ValueError:
        return False


def parse_request(
    *,
    level: str,
    group_id: str | None,
    types: str | None,
    since: str | None,
    output_format: str | None,
    request_url: str,
) -> ExportRequest:
    """Check the kick-off's parameters; each bad one is named (``_type``, ``_since``...)."""
    if output_format is not None and output_format not in OUTPUT_FORMATS:
        raise InvalidInput("_outputFormat: only application/fhir+ndjson", field="_outputFormat")
    wanted = tuple(t.strip() for t in (types or "").split(",") if t.strip())
    for rtype in wanted:
        if not is_resource_type(rtype):
            raise InvalidInput(f"_type: {rtype[:64]!r} is not a resource type", field="_type")
    moment = None
    if since:
        try:
            moment = parse_fhir_datetime(since)
        except ValueError:
            raise InvalidInput("_since: not a FHIR instant", field="_since") from None
        if "T" in since and not _ZONED.search(since):
            # Read as UTC, a clinic's local midnight would move the window by hours.
            raise InvalidInput("_since: a time needs its time zone (Z or +hh:mm)", field="_since")
    return ExportRequest(level, wanted, moment, group_id, request_url)


def group_members(session: Session, group_id: str, *, now: datetime) -> list[str]:
    """``segment-<name>`` (careloop's segments) or ``program-<name>`` (enrolled patients)."""
    if group_id.startswith(SEGMENT_GROUP):
        try:
            return segment_members(session, name=group_id.removeprefix(SEGMENT_GROUP), now=now)
        except InvalidInput:
            raise NotFound("no such Group") from None
    if group_id.startswith(PROGRAM_GROUP):
        rows = list_enrollments(
            session, program=group_id.removeprefix(PROGRAM_GROUP), limit=1_000_000
        )
        if rows:
            return sorted({str(r["patient"]) for r in rows})
    raise NotFound("no such Group")


def _resources(
    session: Session, rtype: str, patients: list[str] | None, since: datetime | None
) -> list[StoredResource]:
    found = stored_resources(session, resource_type=rtype, patient_ids=patients, since=since)
    projector = PROJECTED.get(rtype)
    if projector is not None:
        found += [
            r
            for r in projector(session, patients)
            if since is None or (r.last_updated is not None and r.last_updated >= since)
        ]
    if patients is not None and rtype != "Patient":
        found = [r for r in found if r.patient_id in set(patients)]
    return found


def _types(session: Session, request: ExportRequest) -> list[str]:
    if request.types:
        return list(request.types)
    present = set(stored_types(session)) | set(PROJECTED)
    if request.level != "system":
        present.discard("Questionnaire")
    return sorted(present)


def start_export(
    session: Session,
    *,
    clock: Clock,
    principal: Principal,
    request: ExportRequest,
    allowed_patients: frozenset[str] | None,
) -> BulkExport:
    """The kick-off: fix who and what is exported, and leave the writing to the worker."""
    now = clock.now()
    patients: list[str] | None = None
    if request.level == "group" and request.group_id is not None:
        patients = group_members(session, request.group_id, now=now)
    if allowed_patients is not None:
        patients = sorted(set(patients or allowed_patients) & allowed_patients)
    job = BulkExport(
        id=str(uuid.uuid4()),
        requested_by=principal.actor,
        requested_role=str(principal.role),
        request_url=request.request_url[:4000],
        level=request.level,
        group_id=request.group_id,
        types=list(request.types),
        since=request.since,
        status="in-progress",
        transaction_time=now,
        errors=[],
        patients=patients,
    )
    session.add(job)
    session.flush()
    return job


class ExportCancelled(Exception):
    """The export was cancelled while it was being written: its files are rolled back."""


def write_export(session: Session, job: BulkExport, *, clock: Clock) -> None:
    """Write the export's NDJSON files (one per type), audit it, mark it complete.

    ``transactionTime`` stays the kick-off's: what changed after it is in the next export
    (``_since``), as the IG says."""
    request = ExportRequest(
        level=job.level,
        types=tuple(job.types),
        since=job.since,
        group_id=job.group_id,
        request_url=job.request_url,
    )
    patients = job.patients
    touched: set[str] = set()
    seq = 0
    for rtype in _types(session, request):
        found = _resources(session, rtype, patients, request.since)
        if request.level == "patient":
            found = [r for r in found if r.patient_id is not None]
        if not found:
            continue
        seq += 1
        lines = [orjson.dumps(with_meta(r.resource, last_updated=r.last_updated)) for r in found]
        session.add(
            BulkExportFile(
                export_id=job.id,
                seq=seq,
                resource_type=rtype,
                count=len(lines),
                content=(b"\n".join(lines) + b"\n").decode(),
            )
        )
        touched |= {r.patient_id for r in found if r.patient_id}
    session.flush()
    # Complete only what is still in progress: a DELETE may have cancelled it meanwhile
    # (on SQLite nothing locks the row), and a cancelled export must stay gone.
    finished = session.execute(
        update(BulkExport)
        .where(BulkExport.id == job.id, BulkExport.status == "in-progress")
        .values(status="complete", finished_at=clock.now())
        .execution_options(synchronize_session=False)
    )
    if finished.rowcount == 0:  # type: ignore[attr-defined]
        raise ExportCancelled(job.id)
    session.refresh(job)
    if touched:
        audit(
            session,
            clock=clock,
            principal=_requester(job),
            action=AuditAction.EXPORT,
            resource="fhir:$export",
            purpose=Purpose.OPERATIONS,
            patient_ids=sorted(touched),
            detail={"export": job.id},
        )


def _requester(job: BulkExport) -> Principal:
    """Who the export is audited under: its requester, though the worker writes it."""
    role = Role(job.requested_role or Role.CLINICIAN)
    return Principal(actor=job.requested_by, role=role, source="worker")


def pending_exports(session: Session) -> list[str]:
    """Exports kicked off and not yet written, oldest first."""
    query = (
        select(BulkExport.id)
        .where(BulkExport.status == "in-progress")
        .order_by(BulkExport.transaction_time, BulkExport.id)
    )
    return list(session.scalars(query))


def get_export(session: Session, export_id: str, *, principal: Principal) -> BulkExport:
    """The job, for its requester only (anyone else: 404, the id reveals nothing)."""
    job = session.get(BulkExport, export_id)
    if job is None or job.requested_by != principal.actor or job.status == "cancelled":
        raise NotFound("no such export")
    return job


def manifest(session: Session, job: BulkExport, *, base_url: str) -> dict[str, Any]:
    rows = session.execute(
        select(BulkExportFile.seq, BulkExportFile.resource_type, BulkExportFile.count)
        .where(BulkExportFile.export_id == job.id)
        .order_by(BulkExportFile.seq)
    ).all()
    return {
        "transactionTime": job.transaction_time.isoformat().replace("+00:00", "Z"),
        "request": job.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": rtype, "url": f"{base_url}/$export-file/{job.id}/{seq}", "count": count}
            for seq, rtype, count in rows
        ],
        "error": [],
    }


def export_file(session: Session, job: BulkExport, seq: int) -> str:
    return get_or_missing(session, BulkExportFile, (job.id, seq), "no such file").content


def cancel(session: Session, job: BulkExport) -> None:
    """DELETE on the status URL: the files go, the job answers 404 from then on."""
    for row in session.scalars(select(BulkExportFile).where(BulkExportFile.export_id == job.id)):
        session.delete(row)
    job.status = "cancelled"
    session.flush()
