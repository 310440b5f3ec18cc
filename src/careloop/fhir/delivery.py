"""Delivering Subscription notifications and the EHR push: the ``fhir-subscriptions`` job.

One run (``run``): end expired subscriptions, queue what changed (``fhir.notify.scan``) and
due heartbeats, then send the due notifications in order. A failed attempt (no answer, or
not 2xx) is tried again after ``subscription_backoff_seconds`` doubling each time up to
``subscription_backoff_max_seconds``; after ``subscription_attempts`` it is a dead letter
(``careloop fhir dead-letters``, ``/console/fhir-deliveries``), and a dead handshake puts
its subscription in ``error``. Only the HTTP status or the exception class is kept as the
error: a receiver's body may quote what it was sent.

The HTTP call is made outside any transaction; the job's lease (``compose.jobs``) keeps two
processes from sending the same notification.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.audit import AuditAction, Purpose, audit
from careloop.fhir import ehr_push, notify
from careloop.fhir.notify import Outbound
from careloop.fhir.subscriptions import EHR_PUSH, queued
from careloop.models import FhirNotification, FhirSubscription
from careloop.runtime import Runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings import FhirSettings

log = logging.getLogger("careloop.fhir.delivery")

DELIVERY_PRINCIPAL = Principal(actor="system:fhir-subscriptions", role=Role.ADMIN, source="worker")
LIVE = ("requested", "active")
UNBUILT = Outbound("POST", "", b"", {}, None)


@dataclass
class RunResult:
    queued: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    heartbeats: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """The counts (the errors are said apart, and may name an endpoint)."""
        return {k: v for k, v in asdict(self).items() if k != "errors"}


def backoff(settings: FhirSettings, attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failure: base × 2^(attempts-1), capped."""
    seconds = settings.subscription_backoff_seconds * 2 ** max(attempts - 1, 0)
    return timedelta(seconds=min(seconds, settings.subscription_backoff_max_seconds))


def _prepare(session: Session, now: datetime, result: RunResult) -> None:
    for row in session.scalars(select(FhirSubscription).where(FhirSubscription.status.in_(LIVE))):
        if row.end is not None and row.end <= now:
            row.status = "off"
            continue
        result.queued += notify.scan(session, row, now)
        if notify.heartbeat_due(session, row, now):
            session.add(queued(row.id, "heartbeat", now))
            result.heartbeats += 1


def _due(session: Session, now: datetime, limit: int) -> list[int]:
    query = (
        select(FhirNotification.id)
        .join(FhirSubscription, FhirSubscription.id == FhirNotification.subscription_id)
        .where(
            FhirNotification.status == "pending",
            FhirNotification.next_attempt_at <= now,
            # Events wait for the handshake: an endpoint is not sent data it did not accept.
            (FhirSubscription.status == "active") | (FhirNotification.kind == "handshake"),
        )
        .order_by(FhirNotification.subscription_id, FhirNotification.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def _request(
    session: Session, note: FhirNotification, *, base: str, now: datetime, rt: Runtime
) -> Outbound | None:
    row = session.get(FhirSubscription, note.subscription_id)
    if row is None:
        return None
    if row.kind == EHR_PUSH:
        return ehr_push.request(session, row, note, settings=rt.settings.fhir)
    bundle, patient = notify.notification_bundle(session, row, note, base=base, now=now)
    body = orjson.dumps(bundle)
    headers = {
        "Content-Type": "application/fhir+json",
        notify.SIGNATURE_HEADER: notify.signature(row.secret or "", body, int(now.timestamp())),
        "X-Careloop-Subscription": row.id,
        "X-Careloop-Notification": str(note.id),
    }
    for line in row.headers:
        name, _, value = line.partition(":")
        headers[name.strip()] = value.strip()
    return Outbound("POST", row.endpoint, body, headers, patient)


def _send(client: httpx.Client, request: Outbound) -> str | None:
    """None when the endpoint took it (2xx), else what went wrong (no body quoted)."""
    try:
        answer = client.request(
            request.method, request.url, content=request.body, headers=request.headers
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
        return exc.__class__.__name__
    return None if 200 <= answer.status_code < 300 else f"HTTP {answer.status_code}"


def _record(
    rt: Runtime, note_id: int, request: Outbound, error: str | None, result: RunResult
) -> None:
    now = rt.clock.now()
    settings = rt.settings.fhir
    with rt.transaction() as session:
        note = session.get(FhirNotification, note_id)
        row = session.get(FhirSubscription, note.subscription_id) if note else None
        if note is None or row is None:
            return
        note.attempts += 1
        note.last_attempt_at = now
        if error is None:
            note.status, note.delivered_at, note.last_error = "delivered", now, None
            row.last_sent_at = now
            if note.kind == "handshake":
                row.status = "active"
            result.delivered += 1
            if request.patient_id is not None:
                _audit_disclosure(session, rt, row, request.patient_id)
            return
        note.last_error = error[:200]
        if note.attempts >= settings.subscription_attempts:
            note.status = "dead"
            result.dead += 1
            if note.kind == "handshake":
                row.status = "error"
        else:
            note.next_attempt_at = now + backoff(settings, note.attempts)
            result.retried += 1


def _gone(rt: Runtime, note_id: int) -> None:
    """The resource was deleted (or the subscription with it) before it was sent."""
    with rt.transaction() as session:
        note = session.get(FhirNotification, note_id)
        if note is not None:
            note.status, note.last_error = "gone", "resource no longer exists"


def _audit_disclosure(session: Session, rt: Runtime, row: FhirSubscription, patient: str) -> None:
    audit(
        session,
        clock=rt.clock,
        principal=DELIVERY_PRINCIPAL,
        action=AuditAction.SEND,
        resource=f"fhir-subscription:{row.id}",
        purpose=Purpose.TREATMENT,
        patient_ids=[patient],
    )


def run(rt: Runtime, now: datetime, *, client: httpx.Client | None = None) -> RunResult:
    """One run of the delivery job (``compose.jobs`` calls it every period)."""
    result = RunResult()
    settings = rt.settings.fhir
    base = rt.settings.security.public_base_url.rstrip("/") + "/fhir"
    with rt.transaction() as session:
        ehr_push.ensure(session, settings, now)
        _prepare(session, now, result)
    with rt.transaction() as session:
        due = _due(session, now, settings.subscription_batch)
    own = client is None
    client = client or httpx.Client(timeout=settings.subscription_timeout_seconds)
    try:
        for note_id in due:
            try:
                with rt.transaction() as session:
                    note = session.get(FhirNotification, note_id)
                    request = _request(session, note, base=base, now=now, rt=rt) if note else None
            except Exception as exc:
                # One notification that cannot be built must not hold up the others: it
                # counts as a failed attempt (and so ends in the dead letters).
                _record(rt, note_id, UNBUILT, exc.__class__.__name__, result)
                continue
            if request is None:
                _gone(rt, note_id)
                continue
            _record(rt, note_id, request, _send(client, request), result)
    finally:
        if own:
            client.close()
    if result.dead:
        log.warning("fhir notifications dead-lettered", extra={"dead": result.dead})
    return result


def dead_letters(session: Session, *, limit: int = 200) -> list[dict[str, Any]]:
    """Notifications that ran out of attempts, newest first (ids and references, no PHI)."""
    query = (
        select(FhirNotification, FhirSubscription.kind, FhirSubscription.topic)
        .join(FhirSubscription, FhirSubscription.id == FhirNotification.subscription_id)
        .where(FhirNotification.status == "dead")
        .order_by(FhirNotification.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": note.id,
            "subscription": note.subscription_id,
            "channel": kind,
            "topic": topic,
            "type": note.kind,
            "focus": note.focus,
            "attempts": note.attempts,
            "last_error": note.last_error,
            "created_at": note.created_at,
            "last_attempt_at": note.last_attempt_at,
        }
        for note, kind, topic in session.execute(query).tuples()
    ]


def retry_dead(session: Session, note_id: int) -> FhirNotification | None:
    """Send a dead letter again from the next run (a handshake revives its subscription)."""
    note = session.get(FhirNotification, note_id)
    if note is None or note.status != "dead":
        return None
    note.status, note.attempts, note.next_attempt_at = "pending", 0, note.created_at
    row = session.get(FhirSubscription, note.subscription_id)
    if row is not None and note.kind == "handshake" and row.status == "error":
        row.status = "requested"
    session.flush()
    return note
