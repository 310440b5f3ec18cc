"""The ``fhir-exports`` job: write the Bulk Data exports kicked off since the last run.

Each export is written in its own transaction, so one that fails (marked ``error``, its
status URL answers an OperationOutcome) stops no other; the job's lease keeps two workers
from writing the same export.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update

from careloop.fhir.bulk import ExportCancelled, pending_exports, write_export
from careloop.models import BulkExport
from careloop.runtime import Runtime

log = logging.getLogger("careloop.fhir.exports")


def run_exports(rt: Runtime, now: datetime | None = None) -> dict[str, Any]:
    with rt.transaction() as session:
        pending = pending_exports(session)
    written = failed = 0
    for export_id in pending:
        try:
            with rt.transaction() as session:
                job = session.get(BulkExport, export_id, with_for_update=True)
                if job is None or job.status != "in-progress":
                    continue
                write_export(session, job, clock=rt.clock)
            written += 1
        except ExportCancelled:
            continue  # the requester cancelled it meanwhile; nothing of it is kept
        except Exception as exc:
            # The class only: a message may quote data. The requester sees the export failed.
            log.error("export failed", extra={"export": export_id, "error": type(exc).__name__})
            with rt.transaction() as session:  # unless it was cancelled meanwhile
                session.execute(
                    update(BulkExport)
                    .where(BulkExport.id == export_id, BulkExport.status == "in-progress")
                    .values(
                        status="error",
                        errors=[{"code": "exception", "diagnostics": type(exc).__name__}],
                    )
                )
            failed += 1
    return {"written": written, "failed": failed}
