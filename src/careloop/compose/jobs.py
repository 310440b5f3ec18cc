"""The one home of periodic jobs: outreach tick, escalations, missing-data rule, retention,
FHIR deliveries and exports, review invitations, the programs roll-up, rides to visits, the
typed fact columns' backfill, the nightly cycle.

Every ``careloop worker`` (and ``careloop serve`` with its in-process worker) calls
:meth:`JobRunner.run_due` between outbox batches. Each job has one ``job_runs`` row; a
process runs a job only after a conditional UPDATE gave it the lease and the job was due,
so however many processes run, each job runs once per period, on SQLite and PostgreSQL.
Schedules are ``CARELOOP_JOBS__*`` settings; ``careloop jobs list`` shows the last and next
runs and the failures.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from careloop.compose.worker import default_worker_id
from careloop.models import JobRun
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role

if TYPE_CHECKING:
    from careloop.outreach.scheduler import TickContext

# Each job imports its domain when it first runs: a worker started while the others hold
# every job's lease (a replacement) loads none of them (the nightly cycle and the tick alone
# bring the engine, SciPy and the content renderer).

log = logging.getLogger("careloop.jobs")

JOBS_PRINCIPAL = Principal(actor="system:jobs", role=Role.ADMIN, source="worker")

JobBody = Callable[[Runtime, datetime], dict[str, Any]]


@dataclass(frozen=True)
class Job:
    name: str
    every: timedelta
    body: JobBody
    at: time | None = None
    """A daily job's UTC time of day: it runs then, not ``every`` after its first start."""

    def next_run(self, now: datetime) -> datetime:
        """When the job is due again after a run that began at ``now``."""
        if self.at is None:
            return now + self.every
        today = datetime.combine(now.astimezone(UTC).date(), self.at, tzinfo=UTC)
        return today if today > now else today + timedelta(days=1)


@dataclass(frozen=True)
class JobOutcome:
    name: str
    status: str
    result: dict[str, Any]


def _outreach_tick() -> JobBody:
    context: list[TickContext] = []

    def body(rt: Runtime, now: datetime) -> dict[str, Any]:
        from careloop.compose.outreach import run_tick, tick_context
        from careloop.content.service import require_approved_content
        from careloop.errors import InvalidInput

        try:
            with rt.transaction() as session:
                require_approved_content(session)
        except InvalidInput as exc:
            # As the night: with no approved words every due step would be decided and
            # skipped for want of content, so the invitations wait for the sync instead.
            log.warning("outreach tick not run: %s", exc)
            return {"refused": 1}
        if not context:
            jobs = rt.settings.jobs
            care_gaps = jobs.outreach_tick_care_gaps
            if care_gaps is None:  # the night identifies them where it is scheduled here
                care_gaps = jobs.nightly_at is None
            if care_gaps:
                context.append(tick_context(rt))
            else:  # the nightly cycle identifies care gaps (as its opening tick does)
                from careloop.outreach.eligibility import AppointmentEligibility

                context.append(tick_context(rt, eligibility=AppointmentEligibility()))
        return run_tick(rt, ctx=context[0], now=now).as_dict()

    return body


def _escalations(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.careteam import alerts

    with rt.transaction() as session:
        return {"escalated": len(alerts.escalate_overdue(session, now, clock=rt.clock))}


def _missing_data(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.careteam import intake

    with rt.transaction() as session:
        done = intake.evaluate_missing_data(session, now, settings=rt.settings)
    return {"nudged": len(done["nudged"]), "tasks": len(done["tasks"])}


def _retention_purge(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.audit import AuditAction, Auditor, Purpose
    from careloop.crypto import configured_signing_key
    from careloop.governance.retention import purge_expired

    with rt.transaction() as session:
        results = purge_expired(
            session,
            settings=rt.settings.retention,
            now=now,
            key=configured_signing_key(rt.settings),
        )
        deleted = {r["target"]: r["deleted"] for r in results}
        Auditor(session, rt.clock, JOBS_PRINCIPAL, Purpose.RETENTION)(
            AuditAction.DELETE, "retention-purge", detail=deleted
        )
    return {"deleted": sum(deleted.values())}


def _fhir_subscriptions(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.fhir.delivery import run

    return run(rt, now).as_dict()


def _fhir_exports(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.fhir.export_jobs import run_exports

    return run_exports(rt, now)


def _nightly(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.compose.nightly import run_nightly

    url = rt.engine.url.render_as_string(hide_password=False)
    return run_nightly(rt, database=url, now=now).as_dict()


def _review_invitations(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.reviews.service import invite_after_visits

    with rt.transaction() as session:
        tally = invite_after_visits(
            session, clock=rt.clock, settings=rt.settings, principal=JOBS_PRINCIPAL
        )
    return dict(tally)


def _ride_dispatch(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.access.imported_visits import follow_imports
    from careloop.access.rides import provider_from_settings, run_rides

    provider = provider_from_settings(
        rt.settings.access.rides, public_base_url=rt.settings.security.public_base_url
    )
    with rt.transaction() as session:
        followed, checked = follow_imports(session, clock=rt.clock, settings=rt.settings)
    with rt.transaction() as session:
        rides = run_rides(session, provider=provider, clock=rt.clock, principal=JOBS_PRINCIPAL)
    return {**rides, "rechecked": len(checked), "followed": len(followed)}


def follow_import(rt: Runtime, *, patient_ids: set[str]) -> dict[str, Any] | None:
    """Right after ``careloop import``: the imported patients' visits the EHR moved or
    cancelled are followed and the visits whose caregiver changed re-checked
    (``access.imported_visits``), then, when any changed, the ride job runs once, so the
    provider hears of a new or withdrawn ride now, not at the next ``ride-dispatch``. None
    when no visit changed."""
    if not patient_ids:
        return None
    from careloop.access.imported_visits import follow_imports
    from careloop.access.rides import provider_from_settings, run_rides

    with rt.transaction() as session:
        followed, checked = follow_imports(
            session, clock=rt.clock, settings=rt.settings, patient_ids=patient_ids
        )
    if not followed and not checked:
        return None
    provider = provider_from_settings(
        rt.settings.access.rides, public_base_url=rt.settings.security.public_base_url
    )
    with rt.transaction() as session:
        rides = run_rides(session, provider=provider, clock=rt.clock, principal=JOBS_PRINCIPAL)
    return {
        "followed": [f.as_json() for f in followed],
        "rechecked": [c.as_json() for c in checked],
        "rides": rides,
    }


def _programs_rollup(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.insights.rollup import write_programs_rollup

    with rt.transaction() as session:
        figures = write_programs_rollup(session, now=now)
    return {"programs": len(figures.report["programs"])}


def _fact_backfill(rt: Runtime, now: datetime) -> dict[str, Any]:
    from careloop.records.fact_backfill import fill_facts

    seconds = rt.settings.jobs.fact_backfill_seconds
    return fill_facts(rt.transaction, now=now, seconds=seconds).as_dict()


def configured_jobs(rt: Runtime) -> list[Job]:
    """The jobs switched on in settings (a period of 0 minutes switches one off)."""
    settings = rt.settings.jobs
    if not settings.enabled:
        return []
    periods: list[tuple[str, float, JobBody]] = [
        ("outreach-tick", settings.outreach_tick_minutes, _outreach_tick()),
        ("escalations", settings.escalations_minutes, _escalations),
        ("missing-data", settings.missing_data_minutes, _missing_data),
        ("retention-purge", settings.retention_purge_minutes, _retention_purge),
        ("fhir-subscriptions", settings.fhir_subscriptions_minutes, _fhir_subscriptions),
        ("fhir-exports", settings.fhir_exports_minutes, _fhir_exports),
        ("review-invitations", settings.review_invitations_minutes, _review_invitations),
        ("programs-rollup", settings.programs_rollup_minutes, _programs_rollup),
        ("ride-dispatch", settings.ride_dispatch_minutes, _ride_dispatch),
        ("fact-backfill", settings.fact_backfill_minutes, _fact_backfill),
    ]
    jobs = [Job(name, timedelta(minutes=m), body) for name, m, body in periods if m > 0]
    if settings.nightly_at is not None:
        jobs.append(Job("nightly", timedelta(days=1), _nightly, at=settings.nightly_at))
    return jobs


class JobRunner:
    """Runs the due jobs this process can lease; safe to run in any number of processes."""

    def __init__(
        self, rt: Runtime, jobs: list[Job] | None = None, *, owner: str | None = None
    ) -> None:
        self.rt = rt
        self.jobs = configured_jobs(rt) if jobs is None else jobs
        self.owner = owner or default_worker_id()
        self.lease = timedelta(minutes=rt.settings.jobs.lease_minutes)

    def _ensure_rows(self, session: Session, now: datetime) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        rows = [
            {
                "name": j.name,
                "next_run_at": now if j.at is None else j.next_run(now),
                "runs": 0,
                "failures": 0,
                "consecutive_failures": 0,
            }
            for j in self.jobs
        ]
        session.execute(dialect.insert(JobRun).values(rows).on_conflict_do_nothing())

    def _claim(self, job: Job, now: datetime) -> bool:
        with self.rt.transaction() as session:
            claimed = session.execute(
                update(JobRun)
                .where(
                    JobRun.name == job.name,
                    JobRun.next_run_at <= now,
                    (JobRun.lease_until.is_(None)) | (JobRun.lease_until < now),
                )
                .values(lease_owner=self.owner, lease_until=now + self.lease, last_started_at=now)
                .execution_options(synchronize_session=False)
            )
            return claimed.rowcount == 1  # type: ignore[attr-defined,no-any-return]

    def _finish(self, job: Job, now: datetime, error: BaseException | None) -> None:
        finished = self.rt.clock.now()
        failed = error is not None
        with self.rt.transaction() as session:
            row = session.get(JobRun, job.name, with_for_update=True)
            if row is None or row.lease_owner != self.owner:
                return
            row.lease_owner = row.lease_until = None
            row.last_finished_at = finished
            row.last_owner = self.owner
            row.last_status = "failed" if failed else "ok"
            row.last_error = error.__class__.__name__ if failed else None
            row.runs += 1
            row.failures += int(failed)
            row.consecutive_failures = row.consecutive_failures + 1 if failed else 0
            # A failed job is tried again after a short pause, never later than its period.
            if failed:
                row.next_run_at = now + min(job.every, timedelta(minutes=5))
            else:
                row.next_run_at = job.next_run(now)

    def run_due(self) -> list[JobOutcome]:
        """Run every job that is due and not leased elsewhere; one failure stops none."""
        if not self.jobs:
            return []
        now = self.rt.clock.now()
        with self.rt.transaction() as session:
            self._ensure_rows(session, now)
        outcomes = []
        for job in self.jobs:
            if not self._claim(job, now):
                continue
            try:
                result = job.body(self.rt, now)
            except Exception as exc:
                # The class name only: messages may quote data. The job is retried later.
                log.error("job failed", extra={"job": job.name, "error": exc.__class__.__name__})
                self._finish(job, now, exc)
                outcomes.append(JobOutcome(job.name, "failed", {}))
                continue
            self._finish(job, now, None)
            log.info("job ran", extra={"job": job.name, **_counts(result)})
            outcomes.append(JobOutcome(job.name, "ok", result))
        return outcomes


def _counts(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if isinstance(v, int | float)}


def job_status(session: Session) -> list[dict[str, Any]]:
    """Every job's last run, next run and failures, for ``careloop jobs list`` and /ready."""
    rows = session.scalars(select(JobRun).order_by(JobRun.name)).all()
    return [
        {
            "name": r.name,
            "last_started_at": r.last_started_at,
            "last_finished_at": r.last_finished_at,
            "last_status": r.last_status,
            "last_error": r.last_error,
            "last_owner": r.last_owner,
            "next_run_at": r.next_run_at,
            "running_on": r.lease_owner,
            "runs": r.runs,
            "failures": r.failures,
            "consecutive_failures": r.consecutive_failures,
        }
        for r in rows
    ]
