"""Liveness (``/health``) and readiness (``/ready``); ``/healthz``, ``/readyz`` are aliases.

Live: the process answers, nothing else is asked (a database outage must not get the
service restarted in a loop). Ready: the database answers, its schema is the one this code
expects, and a worker has run a periodic job recently (when jobs are on); 503 otherwise,
with which check failed.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from careloop import __version__
from careloop.compose.observability import workers_seen_since
from careloop.db import current_revisions, head_revisions

router = APIRouter(tags=["health"])


@router.get("/health")
@router.get("/healthz", include_in_schema=False)
def health(request: Request) -> dict[str, str]:
    """The process is up (the database is not asked: see ``/ready``)."""
    runtime = request.app.state.runtime
    return {"status": "ok", "version": __version__, "database": runtime.engine.dialect.name}


# Not in the OpenAPI schema: its 503 is an answer for load balancers, not an API error.
@router.get("/ready", include_in_schema=False)
@router.get("/readyz", include_in_schema=False)
def ready(request: Request) -> JSONResponse:
    """Database reachable, migrations current, workers seen recently."""
    runtime = request.app.state.runtime
    checks: dict[str, Any] = {}
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
        current, heads = current_revisions(runtime.engine), head_revisions()
        checks["migrations"] = (
            "ok"
            if current == heads
            else f"at {', '.join(current) or 'empty'}, need {', '.join(heads)}"
        )
        jobs = runtime.settings.jobs
        if jobs.enabled:
            window = timedelta(minutes=jobs.ready_worker_minutes)
            with runtime.transaction() as session:
                seen = workers_seen_since(session, runtime.clock.now() - window)
            checks["workers"] = "ok" if seen else f"none seen in {jobs.ready_worker_minutes:g} min"
    except SQLAlchemyError as exc:
        checks["database"] = f"unreachable ({exc.__class__.__name__})"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks},
        status_code=200 if ok else 503,
    )
