"""Pushing what careloop learned to a configured EHR FHIR endpoint (``fhir.ehr_push_url``).

The push is a subscription of its own (id ``ehr-push``), kept in step with the settings by
every run of the delivery job, so it shares the change scan, the retries with backoff and
the dead letters. Each change is sent as a FHIR *conditional update*:

    PUT [base]/Flag?identifier=https://careloop.dev/fhir/NamingSystem/resource-id|alert-7

with careloop's id as that identifier and no ``id``: the EHR creates the resource the first
time and updates the same one afterwards, so a retried or repeated push never makes a
duplicate, whatever ids the EHR gives. Changes made before the push was configured are
not sent (a Bulk Data ``$export`` serves the backlog).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from sqlalchemy.orm import Session

from careloop.crypto import read_secret
from careloop.fhir.notify import Outbound
from careloop.fhir.search import read
from careloop.fhir.subscriptions import EHR_PUSH
from careloop.fhir.writeback import is_projection
from careloop.models import FhirNotification, FhirSubscription
from careloop.settings import FhirSettings

ID_SYSTEM = "https://careloop.dev/fhir/NamingSystem/resource-id"


def ensure(session: Session, settings: FhirSettings, now: datetime) -> FhirSubscription | None:
    """The ``ehr-push`` row as the settings say: created, updated, or switched off."""
    row = session.get(FhirSubscription, EHR_PUSH)
    url = (settings.ehr_push_url or "").rstrip("/")
    if not url:
        if row is not None and row.status != "off":
            row.status = "off"
        return None
    if row is None:
        row = FhirSubscription(
            id=EHR_PUSH,
            kind=EHR_PUSH,
            topic=EHR_PUSH,
            created_by="settings",
            created_at=now,
            watermark=now,
            events=0,
            payload="full-resource",
            headers=[],
            endpoint=url,
            filters=list(settings.ehr_push_types),
            status="active",
        )
        session.add(row)
        session.flush()
    row.endpoint, row.filters, row.status = url, list(settings.ehr_push_types), "active"
    session.flush()
    return row


def pushed_form(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as the EHR gets it: careloop's id as an identifier, no id or meta, and
    references to careloop's other projections (a Task's ``focus`` on its Flag) by that
    identifier too, since the EHR holds those under ids of its own choosing."""
    body = {k: _logical(v) for k, v in resource.items() if k not in ("id", "meta")}
    mine = {"system": ID_SYSTEM, "value": resource["id"]}
    others = [i for i in body.get("identifier") or [] if i.get("system") != ID_SYSTEM]
    body["identifier"] = [*others, mine]
    return body


def _logical(value: Any) -> Any:
    """``value`` with each Reference to a projection (``Flag/alert-7``) made a logical one:
    ``{"type": "Flag", "identifier": {"system": ID_SYSTEM, "value": "alert-7"}}``."""
    if isinstance(value, list):
        return [_logical(item) for item in value]
    if not isinstance(value, dict):
        return value
    out = {k: _logical(v) for k, v in value.items()}
    target = out.get("reference")
    if isinstance(target, str) and is_projection(target):
        rtype, _, rid = out.pop("reference").partition("/")
        out |= {"type": rtype, "identifier": {"system": ID_SYSTEM, "value": rid}}
    return out


def request(
    session: Session, row: FhirSubscription, note: FhirNotification, *, settings: FhirSettings
) -> Outbound | None:
    """The conditional update for ``note``'s resource; None when it no longer exists."""
    rtype, _, rid = (note.focus or "").partition("/")
    current = read(session, rtype, rid)
    if current is None:
        return None
    headers = {
        "Content-Type": "application/fhir+json",
        "Accept": "application/fhir+json",
        "X-Careloop-Notification": str(note.id),
    }
    token = read_secret(settings.ehr_push_token, settings.ehr_push_token_file)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = f"{row.endpoint}/{rtype}?identifier={quote(ID_SYSTEM, safe='')}%7C{quote(rid, safe='')}"
    body = orjson.dumps(pushed_form(current.resource))
    return Outbound("PUT", url, body, headers, current.patient_id)
