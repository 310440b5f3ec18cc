"""Retention: each kind of data is kept for its period, then purged; aggregates stay.

Domains register a :class:`RetentionTarget` (a name, the retention setting that governs it,
and a purge function that deletes what is older than a cutoff and returns the counts it
keeps); the purge job runs them all. Periods are days in ``settings.retention``
(``<setting>`` fields, or ``other_days[<setting>]`` for targets added later); 0 keeps
forever. Every real run is written to ``retention_runs`` with its aggregates, so a purge
never makes a report's history silently shrink.

Domains whose tables do not exist yet (message bodies, raw inbound payloads) add their
target module to :data:`TARGET_MODULES`; a module that fails to import stops the job.
"""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select
from sqlalchemy.orm import Session

from careloop.audit import purge_audit_before
from careloop.governance.erasure import erase_patient
from careloop.models import (
    ApiToken,
    Base,
    FhirResource,
    Patient,
    PortalCode,
    RetentionRun,
    SigninSource,
)
from careloop.settings import RetentionSettings


@dataclass(frozen=True)
class PurgeContext:
    cutoff: datetime
    now: datetime
    dry_run: bool
    key: bytes | None


@dataclass
class PurgeResult:
    deleted: int
    aggregates: dict[str, int] = field(default_factory=dict)
    skipped: str | None = None


@dataclass(frozen=True)
class RetentionTarget:
    name: str
    setting: str
    description: str
    purge: Callable[[Session, PurgeContext], PurgeResult]


_REGISTRY: dict[str, RetentionTarget] = {}

# Modules whose import registers retention targets (one line per domain).
TARGET_MODULES: list[str] = ["careloop.governance.retention"]


def register_retention_target(target: RetentionTarget) -> RetentionTarget:
    if target.name in _REGISTRY and _REGISTRY[target.name] != target:
        raise ValueError(f"retention target {target.name!r} registered twice")
    _REGISTRY[target.name] = target
    return target


def retention_targets() -> list[RetentionTarget]:
    for module in TARGET_MODULES:
        importlib.import_module(module)
    return sorted(_REGISTRY.values(), key=lambda t: t.name)


def retention_days(settings: RetentionSettings, setting: str) -> int:
    value = getattr(settings, setting, None)
    if isinstance(value, int):
        return value
    return int(settings.other_days.get(setting, 0))


def purge_expired(
    session: Session,
    *,
    settings: RetentionSettings,
    now: datetime,
    key: bytes | None,
    dry_run: bool = False,
) -> list[dict[str, Any]]:
    """Run every registered target; one result row per target (also for those skipped)."""
    results: list[dict[str, Any]] = []
    for target in retention_targets():
        days = retention_days(settings, target.setting)
        row: dict[str, Any] = {
            "target": target.name,
            "setting": target.setting,
            "days": days,
            "cutoff": None,
            "deleted": 0,
            "aggregates": {},
            "skipped": None,
        }
        if days <= 0:
            row["skipped"] = "kept forever (retention 0)"
            results.append(row)
            continue
        cutoff = now - timedelta(days=days)
        row["cutoff"] = cutoff.isoformat()
        result = target.purge(session, PurgeContext(cutoff, now, dry_run, key))
        row.update(deleted=result.deleted, aggregates=result.aggregates, skipped=result.skipped)
        if not dry_run and result.deleted:
            session.add(
                RetentionRun(
                    target=target.name,
                    ran_at=now,
                    cutoff=cutoff,
                    deleted=result.deleted,
                    aggregates=result.aggregates,
                )
            )
        results.append(row)
    covered = {t.setting for t in retention_targets()}
    for setting in RetentionSettings.model_fields:
        if setting.endswith("_days") and setting != "other_days" and setting not in covered:
            results.append(
                {
                    "target": setting.removesuffix("_days").replace("_", "-"),
                    "setting": setting,
                    "days": retention_days(settings, setting),
                    "cutoff": None,
                    "deleted": 0,
                    "aggregates": {},
                    "skipped": "no target registered yet (its domain has not added one)",
                }
            )
    session.flush()
    return results


# -- targets of the tables that exist now --


def _purge_audit(session: Session, ctx: PurgeContext) -> PurgeResult:
    if ctx.key is None:
        return PurgeResult(0, skipped="security.secret_key not set: no signed checkpoint")
    purge = purge_audit_before(
        session, key=ctx.key, cutoff=ctx.cutoff, now=ctx.now, dry_run=ctx.dry_run
    )
    return PurgeResult(purge.count, purge.aggregates)


def _purge_rows(
    session: Session, ctx: PurgeContext, table: type[Base], where: ColumnElement[bool], label: str
) -> PurgeResult:
    """Delete the rows of ``table`` that ``where`` picks (only count them on a dry run)."""
    count = int(session.scalar(select(func.count()).select_from(table).where(where)) or 0)
    if not ctx.dry_run and count:
        session.execute(delete(table).where(where))
    return PurgeResult(count, {label: count} if count else {})


def _purge_portal_codes(session: Session, ctx: PurgeContext) -> PurgeResult:
    return _purge_rows(session, ctx, PortalCode, PortalCode.created_at < ctx.cutoff, "codes")


def _purge_tokens(session: Session, ctx: PurgeContext) -> PurgeResult:
    where = or_(ApiToken.expires_at < ctx.cutoff, ApiToken.revoked_at < ctx.cutoff)
    rows = session.execute(
        select(ApiToken.kind, func.count()).where(where).group_by(ApiToken.kind)
    ).all()
    aggregates = {str(kind): int(n) for kind, n in rows}
    if not ctx.dry_run and aggregates:
        session.execute(delete(ApiToken).where(where))
    return PurgeResult(sum(aggregates.values()), aggregates)


def _purge_signin_sources(session: Session, ctx: PurgeContext) -> PurgeResult:
    where = SigninSource.last_failure_at < ctx.cutoff
    return _purge_rows(session, ctx, SigninSource, where, "sources")


def _purge_deceased(session: Session, ctx: PurgeContext) -> PurgeResult:
    """Records of patients deceased before the cutoff: careloop is not the legal record.

    The EHR keeps the medical record for the period the law sets; careloop only needs a
    patient while it may contact them. Counts by resource type are kept.
    """
    ids = list(
        session.scalars(
            select(Patient.id).where(Patient.deceased.is_(True), Patient.deceased_at < ctx.cutoff)
        )
    )
    counts: Counter[str] = Counter()
    if ids:
        rows = session.execute(
            select(FhirResource.resource_type, func.count())
            .where(FhirResource.patient_id.in_(ids))
            .group_by(FhirResource.resource_type)
        ).all()
        counts.update({str(t): int(n) for t, n in rows})
    counts["patients"] = len(ids)
    if not ctx.dry_run:
        for pid in ids:
            erase_patient(session, patient_id=pid)
    return PurgeResult(len(ids), dict(counts) if ids else {})


register_retention_target(
    RetentionTarget("audit-events", "audit_days", "audit trail (signed checkpoint)", _purge_audit)
)
register_retention_target(
    RetentionTarget(
        "portal-codes", "portal_codes_days", "one-time sign-in codes", _purge_portal_codes
    )
)
register_retention_target(
    RetentionTarget(
        "expired-tokens", "expired_tokens_days", "expired/revoked tokens", _purge_tokens
    )
)
register_retention_target(
    RetentionTarget(
        "signin-sources",
        "signin_sources_days",
        "failed sign-ins per client address",
        _purge_signin_sources,
    )
)
register_retention_target(
    RetentionTarget(
        "deceased-records", "deceased_records_days", "records of deceased patients", _purge_deceased
    )
)
