"""The audit trail: every read and write of patient data, hash-chained so tampering shows.

Appends serialize on one head row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite a
no-op update of the head takes the single writer's lock before the head is read), so the
chain is a total order even with many workers or concurrent requests.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.errors import Conflict
from careloop.models import AuditChainHead, AuditCheckpoint, AuditEvent
from careloop.queryfilters import where_given
from careloop.security.principal import Principal

GENESIS = "0" * 64


class AuditAction(StrEnum):
    READ = "read"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    EXPORT = "export"
    SEND = "send"


class Purpose(StrEnum):
    """Purpose of use (HL7 v3 PurposeOfUse, simplified)."""

    TREATMENT = "treatment"
    OPERATIONS = "operations"
    PATIENT_REQUEST = "patient-request"
    OUTREACH = "outreach"
    ANALYTICS = "analytics"
    IMPORT = "import"
    SECURITY = "security"
    RETENTION = "retention"


def _content_hash(prev_hash: str, row: dict[str, Any]) -> str:
    canonical = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + canonical).hexdigest()


_CONTENT = (
    "occurred_at",
    "actor",
    "actor_role",
    "action",
    "resource",
    "patient_id",
    "purpose",
    "source",
    "outcome",
    "detail",
)
"""The columns a row's hash covers (its id and links excluded)."""


def _canonical(event: AuditEvent) -> dict[str, Any]:
    return _canonical_row({name: getattr(event, name) for name in _CONTENT})


def _canonical_row(row: dict[str, Any]) -> dict[str, Any]:
    content = {name: row[name] for name in _CONTENT}
    content["occurred_at"] = row["occurred_at"].isoformat()
    return content


def _lock_head(session: Session) -> AuditChainHead:
    # SQLite ignores FOR UPDATE and takes its writer lock at a transaction's first write: two
    # requests could both read the head, then append after one another from the same hash (a
    # forked chain). Writing the head first takes the lock before it is read.
    session.execute(
        update(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .values(count=AuditChainHead.count)
        .execution_options(synchronize_session=False)
    )
    head = session.scalar(
        select(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if head is None:
        head = AuditChainHead(id=1, last_hash=GENESIS, count=0)
        session.add(head)
        session.flush()
    return head


@dataclass(frozen=True)
class AuditEntry:
    """One :func:`audit` call's worth, for :func:`audit_entries`."""

    principal: Principal
    action: AuditAction | str
    resource: str
    purpose: Purpose | str
    patient_ids: Sequence[str | None] = (None,)
    outcome: str = "success"
    detail: dict[str, Any] | None = None


def audit(
    session: Session,
    *,
    clock: Clock,
    principal: Principal,
    action: AuditAction | str,
    resource: str,
    purpose: Purpose | str,
    patient_ids: Iterable[str | None] = (None,),
    outcome: str = "success",
    detail: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
) -> None:
    """Append one audit event per patient touched (or one with no patient)."""
    entry = AuditEntry(principal, action, resource, purpose, tuple(patient_ids), outcome, detail)
    audit_entries(session, clock=clock, entries=[entry], occurred_at=occurred_at)


def audit_entries(
    session: Session,
    *,
    clock: Clock,
    entries: Sequence[AuditEntry],
    occurred_at: datetime | None = None,
) -> None:
    """Several :func:`audit` calls under one lock of the head and one flush (a batch of
    writes by different submitters): the same rows, a fraction of the round trips."""
    if not entries:
        return
    head = _lock_head(session)
    when = (occurred_at or clock.now()).replace(microsecond=0)
    rows: list[dict[str, Any]] = []
    for entry in entries:
        for patient_id in entry.patient_ids:
            row: dict[str, Any] = {
                "occurred_at": when,
                "actor": entry.principal.actor,
                "actor_role": str(entry.principal.role),
                "action": str(entry.action),
                "resource": entry.resource,
                "patient_id": patient_id,
                "purpose": str(entry.purpose),
                "source": entry.principal.source,
                "outcome": entry.outcome,
                "detail": entry.detail or {},
                "prev_hash": head.last_hash,
            }
            row["hash"] = _content_hash(head.last_hash, _canonical_row(row))
            head.last_hash = row["hash"]
            head.count += 1
            rows.append(row)
    # Set-wise in chain order, no ORM objects and no ids read back (RETURNING): an
    # appointments page audits up to 800 patients a view.
    session.connection().execute(insert(AuditEvent), rows)
    session.flush()


@dataclass(frozen=True, slots=True)
class Auditor:
    """Who audits and why, bound once: a use case that audits several times names only what
    it did and to whose data, so its actor and purpose cannot drift from one call to the next."""

    session: Session
    clock: Clock
    principal: Principal
    purpose: Purpose | str

    def __call__(
        self,
        action: AuditAction | str,
        resource: str,
        patient_ids: Iterable[str | None] = (None,),
        *,
        detail: dict[str, Any] | None = None,
    ) -> None:
        """:func:`audit` as this principal, for this purpose."""
        audit(
            self.session,
            clock=self.clock,
            principal=self.principal,
            action=action,
            resource=resource,
            purpose=self.purpose,
            patient_ids=patient_ids,
            detail=detail,
        )

    def read(self, resource: str, patient_ids: Sequence[str]) -> None:
        """:func:`audit_read`: one READ per patient shown, nothing for an empty list."""
        if patient_ids:
            self(AuditAction.READ, resource, patient_ids)


def audit_read(
    session: Session,
    *,
    clock: Clock,
    principal: Principal,
    resource: str,
    purpose: Purpose | str,
    patient_ids: Sequence[str],
) -> None:
    """Audit a list shown to someone: one READ event per patient in it, none for an empty
    list (nobody's data was shown, and the chain's head is not locked for nothing)."""
    Auditor(session, clock, principal, purpose).read(resource, patient_ids)


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str | None
    purged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "purged": self.purged,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
        }


def _checkpoint_payload(cp: AuditCheckpoint) -> bytes:
    return orjson.dumps(
        {
            "upto_event_id": cp.upto_event_id,
            "upto_hash": cp.upto_hash,
            "purged_total": cp.purged_total,
            "aggregates": cp.aggregates,
            "created_at": cp.created_at.isoformat(),
            "prev_signature": cp.prev_signature,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _sign(key: bytes, cp: AuditCheckpoint) -> str:
    return hmac.new(key, _checkpoint_payload(cp), hashlib.sha256).hexdigest()


def _check_checkpoints(session: Session, key: bytes | None) -> tuple[AuditCheckpoint | None, str]:
    """The latest checkpoint, after checking the signed chain of checkpoints ('' if fine)."""
    previous: AuditCheckpoint | None = None
    for cp in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        if cp.prev_signature != (previous.signature if previous else None):
            return cp, "checkpoint chain broken"
        if key is not None and not hmac.compare_digest(_sign(key, cp), cp.signature):
            return cp, "checkpoint signature does not match"
        previous = cp
    return previous, ""


def verify_chain(session: Session, *, key: bytes | None = None, batch: int = 5000) -> ChainReport:
    """Walk the chain in order; report the first row whose link or content does not match.

    A purged prefix is stood for by the latest signed checkpoint: the walk starts from its
    hash, and its signature is checked when ``key`` is given.
    """
    checkpoint, problem = _check_checkpoints(session, key)
    if problem:
        return ChainReport(False, 0, None, problem)
    prev = checkpoint.upto_hash if checkpoint else GENESIS
    purged = checkpoint.purged_total if checkpoint else 0
    last_id = checkpoint.upto_event_id if checkpoint else 0
    checked = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id).limit(batch)
        ).all()
        if not rows:
            break
        for row in rows:
            if row.prev_hash != prev:
                return ChainReport(
                    False, checked, row.id, "link broken (row removed or reordered)", purged
                )
            if _content_hash(prev, _canonical(row)) != row.hash:
                return ChainReport(
                    False, checked, row.id, "content changed after it was written", purged
                )
            prev = row.hash
            checked += 1
            last_id = row.id
    head = session.get(AuditChainHead, 1)
    if head is not None and (head.last_hash != prev or head.count != checked + purged):
        return ChainReport(False, checked, None, "rows missing at the end of the chain", purged)
    return ChainReport(True, checked, None, None, purged)


@dataclass(frozen=True)
class AuditPurge:
    upto_event_id: int | None
    count: int
    aggregates: dict[str, int]


def _aggregate_key(row: AuditEvent) -> str:
    return f"{row.occurred_at:%Y-%m}|{row.action}|{row.resource}|{row.purpose}"


def purge_audit_before(
    session: Session, *, key: bytes, cutoff: datetime, now: datetime, dry_run: bool = False
) -> AuditPurge:
    """Delete the oldest audit events (before ``cutoff``), leaving a signed checkpoint.

    Only a prefix of the chain is purged (events in chain order up to the first one at or
    after ``cutoff``), so the remaining rows still link to the checkpoint's hash. Counts by
    month, action, resource and purpose are kept in the checkpoint.
    """
    head = _lock_head(session)
    keep_from = session.scalar(
        select(func.min(AuditEvent.id)).where(AuditEvent.occurred_at >= cutoff)
    )
    query = select(AuditEvent).order_by(AuditEvent.id)
    if keep_from is not None:
        query = query.where(AuditEvent.id < keep_from)
    counts: Counter[str] = Counter()
    last: AuditEvent | None = None
    for row in session.scalars(query):
        counts[_aggregate_key(row)] += 1
        last = row
    if last is None or dry_run:
        return AuditPurge(last.id if last else None, sum(counts.values()), dict(counts))
    previous, problem = _check_checkpoints(session, key)
    if problem:
        raise Conflict(f"audit checkpoints do not verify ({problem}); refusing to purge")
    total: Counter[str] = Counter(previous.aggregates if previous else {})
    total.update(counts)
    checkpoint = AuditCheckpoint(
        upto_event_id=last.id,
        upto_hash=last.hash,
        purged_total=(previous.purged_total if previous else 0) + sum(counts.values()),
        aggregates=dict(sorted(total.items())),
        created_at=now.replace(microsecond=0),
        prev_signature=previous.signature if previous else None,
        signature="",
    )
    checkpoint.signature = _sign(key, checkpoint)
    session.add(checkpoint)
    session.execute(delete(AuditEvent).where(AuditEvent.id <= last.id))
    head.note = f"checkpoint up to event {last.id}"
    session.flush()
    return AuditPurge(last.id, sum(counts.values()), dict(counts))


def iter_audit(session: Session, *, patient_id: str | None = None) -> Iterator[AuditEvent]:
    query = where_given(select(AuditEvent), (AuditEvent.patient_id, patient_id))
    yield from session.scalars(query.order_by(AuditEvent.id))


def as_fhir_audit_event(event: AuditEvent) -> dict[str, Any]:
    """The event as a FHIR R4 ``AuditEvent`` resource."""
    action_code = {"read": "R", "create": "C", "update": "U", "delete": "D", "export": "R"}
    return {
        "resourceType": "AuditEvent",
        "id": str(event.id),
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
        },
        "action": action_code.get(event.action, "E"),
        "recorded": event.occurred_at.isoformat(),
        "outcome": "0" if event.outcome == "success" else "4",
        "purposeOfEvent": [{"text": event.purpose}],
        "agent": [
            {
                "who": {"display": event.actor},
                "role": [{"text": event.actor_role or ""}],
                "requestor": True,
            }
        ],
        "source": {"observer": {"display": event.source or "careloop"}},
        "entity": [
            {
                "what": {"reference": f"Patient/{event.patient_id}"} if event.patient_id else {},
                "description": event.resource,
            }
        ],
        "extension": [
            {
                "url": "https://careloop.dev/fhir/StructureDefinition/audit-hash",
                "valueString": event.hash,
            }
        ],
    }
