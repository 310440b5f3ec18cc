"""Finding what changed for a Subscription, and the notification Bundle that says so.

Write-back resources are projections of careloop's rows (``fhir.writeback``), so there is
no write to hook: each run of the delivery job searches every live subscription's types
for resources updated since its watermark (``_lastUpdated``, with an overlap for
transactions that committed late), and compares their version ids with the last one it
notified. A new or changed version becomes one event notification, numbered in order
(``events-since-subscription-start``), so a receiver can tell if it missed one.

The Bundle is the backport IG's R4 ``history`` notification: a ``Parameters`` subscription
status first, then (``id-only``/``full-resource``) the focus. It is signed with HMAC-SHA256
over ``<timestamp>.<body>`` (``X-Careloop-Signature: t=<unix>,v1=<hex>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.fhir.params import parse_query
from careloop.fhir.search import read, search
from careloop.fhir.subscriptions import EHR_PUSH, queued
from careloop.fhir.topics import BACKPORT, topic_for
from careloop.fhir.versions import version_id, with_meta
from careloop.models import FhirNotification, FhirSubscription, FhirSubscriptionSeen
from careloop.records.fhir_query import StoredResource

OVERLAP = timedelta(minutes=10)
"""How far before the watermark a scan looks, for rows written in a transaction that
committed after the last scan (a resource seen before is not notified twice)."""
STATUS_PROFILE = BACKPORT + "backport-subscription-status-r4"
SIGNATURE_HEADER = "X-Careloop-Signature"


@dataclass(frozen=True)
class Outbound:
    """One HTTP request to make, and the patient whose data it discloses (for the audit)."""

    method: str
    url: str
    body: bytes
    headers: dict[str, str]
    patient_id: str | None


def _searches(row: FhirSubscription) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """(type, criteria) to run: the topic's types, narrowed by the filter criteria."""
    if row.kind == EHR_PUSH:
        for rtype in row.filters:
            yield rtype, []
        return
    topic = topic_for(row.topic)
    types = topic.types if topic else ()
    for rtype in types:
        mine = [f.partition("?")[2] for f in row.filters if f.partition("?")[0] == rtype]
        if not row.filters:
            yield rtype, []
        for query in mine:
            yield rtype, parse_qsl(query, keep_blank_values=True)


def changed(session: Session, row: FhirSubscription, now: datetime) -> list[StoredResource]:
    """Resources of the subscription's types updated since its watermark, matching its
    filters, whose version it has not notified yet; ordered by last update."""
    since = max(row.watermark - OVERLAP, row.created_at)
    seen = dict(
        session.execute(
            select(FhirSubscriptionSeen.focus, FhirSubscriptionSeen.version_id).where(
                FhirSubscriptionSeen.subscription_id == row.id
            )
        )
        .tuples()
        .all()
    )
    found: dict[str, StoredResource] = {}
    for rtype, pairs in _searches(row):
        criteria = [*pairs, ("_lastUpdated", "ge" + since.isoformat())]
        query = dataclasses.replace(parse_query(rtype, criteria), count=10**9)
        for item in search(session, query).matches:
            focus = f"{rtype}/{item.resource['id']}"
            if seen.get(focus) != version_id(item.resource):
                found[focus] = item
    epoch = datetime.min.replace(tzinfo=now.tzinfo)
    return sorted(found.values(), key=lambda i: (i.last_updated or epoch, i.resource["id"]))


def scan(session: Session, row: FhirSubscription, now: datetime) -> int:
    """Queue one event notification per new or changed resource; returns how many."""
    items = changed(session, row, now)
    for item in items:
        focus = f"{item.resource['resourceType']}/{item.resource['id']}"
        version = version_id(item.resource)
        mark = session.get(FhirSubscriptionSeen, (row.id, focus))
        if mark is None:
            session.add(
                FhirSubscriptionSeen(subscription_id=row.id, focus=focus, version_id=version)
            )
        else:
            mark.version_id = version
        row.events += 1
        session.add(queued(row.id, "event-notification", now, focus=focus, number=row.events))
    row.watermark = now
    session.flush()
    return len(items)


def heartbeat_due(session: Session, row: FhirSubscription, now: datetime) -> bool:
    """An active subscription with a heartbeat period, silent for that long, nothing queued."""
    if row.status != "active" or not row.heartbeat_seconds:
        return False
    last = row.last_sent_at or row.created_at
    if now - last < timedelta(seconds=row.heartbeat_seconds):
        return False
    waiting = session.scalar(
        select(FhirNotification.id)
        .where(FhirNotification.subscription_id == row.id, FhirNotification.status == "pending")
        .limit(1)
    )
    return waiting is None


def _status_parameters(
    row: FhirSubscription, note: FhirNotification, *, base: str, now: datetime
) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": f"{base}/Subscription/{row.id}"}},
        {"name": "topic", "valueCanonical": row.topic},
        {"name": "status", "valueCode": "active" if note.kind != "handshake" else row.status},
        {"name": "type", "valueCode": note.kind},
        {"name": "events-since-subscription-start", "valueString": str(row.events)},
    ]
    if note.kind == "event-notification":
        event: list[dict[str, Any]] = [
            {"name": "event-number", "valueString": str(note.event_number)},
            {"name": "timestamp", "valueInstant": _iso(note.created_at)},
        ]
        if row.payload != "empty" and note.focus:
            event.append({"name": "focus", "valueReference": {"reference": f"{base}/{note.focus}"}})
        parts.append({"name": "notification-event", "part": event})
    return {
        "resourceType": "Parameters",
        "id": f"notification-{note.id}",
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parts,
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def notification_bundle(
    session: Session, row: FhirSubscription, note: FhirNotification, *, base: str, now: datetime
) -> tuple[dict[str, Any], str | None]:
    """The Bundle to send and the patient it discloses (None when it names nobody)."""
    status = _status_parameters(row, note, base=base, now=now)
    entries: list[dict[str, Any]] = [
        {
            "fullUrl": f"urn:uuid:{uuid.uuid4()}",
            "resource": status,
            "request": {"method": "GET", "url": f"{base}/Subscription/{row.id}/$status"},
            "response": {"status": "200"},
        }
    ]
    patient: str | None = None
    if note.kind == "event-notification" and note.focus and row.payload != "empty":
        rtype, _, rid = note.focus.partition("/")
        current = read(session, rtype, rid)
        entry: dict[str, Any] = {
            "fullUrl": f"{base}/{note.focus}",
            "request": {"method": "PUT", "url": note.focus},
            "response": {"status": "200" if current is not None else "404"},
        }
        if current is not None:
            patient = current.patient_id
            if row.payload == "full-resource":
                entry["resource"] = with_meta(current.resource, last_updated=current.last_updated)
        entries.append(entry)
    bundle = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "history",
        "timestamp": _iso(now),
        "entry": entries,
    }
    return bundle, patient


def signature(secret: str, body: bytes, timestamp: int) -> str:
    """``t=<unix>,v1=<hex HMAC-SHA256 of "<unix>." + body>``: the timestamp is signed too,
    so a receiver can refuse replays older than a few minutes."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str) -> bool:
    """What a receiver does (used by the tests as a receiver would)."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    try:
        expected = signature(secret, body, int(fields.get("t", "")))
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)
