"""Topic-based Subscriptions (R4 backport IG): create, read, search and delete.

A client POSTs a ``Subscription`` whose ``criteria`` is a topic URL (``fhir.topics``),
optionally narrowed by ``backport-filter-criteria`` (``Flag?patient=Patient/123``), with a
``rest-hook`` channel. careloop signs every notification with HMAC-SHA256 under the secret
the client gave in the ``subscription-hmac-secret`` extension (kept encrypted, never served
back), so the receiver knows it came from here and was not changed on the way.

The subscription starts ``requested``; the delivery job (``fhir.delivery``) sends the
handshake and makes it ``active`` when the endpoint answers 2xx.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import Clock, ensure_utc
from careloop.errors import InvalidInput, NotFound, PermissionDenied
from careloop.fhir import access
from careloop.fhir.params import parse_query
from careloop.fhir.topics import BACKPORT, Topic, topic_for
from careloop.models import FhirNotification, FhirSubscription
from careloop.security.principal import Principal
from careloop.settings import FhirSettings

SECRET_EXTENSION = "https://careloop.dev/fhir/StructureDefinition/subscription-hmac-secret"  # noqa: S105
FILTER_EXTENSION = BACKPORT + "backport-filter-criteria"
PAYLOAD_EXTENSION = BACKPORT + "backport-payload-content"
HEARTBEAT_EXTENSION = BACKPORT + "backport-heartbeat-period"
PROFILE = BACKPORT + "backport-subscription"
PAYLOADS = ("empty", "id-only", "full-resource")
MIN_SECRET = 32
EHR_PUSH = "ehr-push"


@dataclass(frozen=True)
class Wanted:
    """A validated Subscription, before it is stored."""

    topic: Topic
    filters: tuple[str, ...]
    endpoint: str
    payload: str
    secret: str
    headers: tuple[str, ...]
    heartbeat_seconds: int | None
    reason: str
    end: datetime | None


def _bad(message: str, element: str) -> InvalidInput:
    return InvalidInput(f"{element}: {message}", field=f"Subscription.{element}")


def _extensions(element: Any, url: str) -> list[dict[str, Any]]:
    items = element.get("extension", []) if isinstance(element, dict) else []
    return [e for e in items if isinstance(e, dict) and e.get("url") == url]


def _filters(body: dict[str, Any], topic: Topic) -> tuple[str, ...]:
    found: list[str] = []
    for ext in _extensions(body.get("_criteria"), FILTER_EXTENSION):
        text = ext.get("valueString")
        if not isinstance(text, str) or not text:
            raise _bad("a filter criteria needs a valueString", "criteria")
        rtype, mark, query = text.partition("?")
        types = (rtype,) if mark else topic.types
        if mark and rtype not in topic.types:
            raise _bad(f"{rtype[:40]!r} is not a type of topic {topic.name}", "criteria")
        pairs = parse_qsl(query if mark else text, keep_blank_values=True)
        for name, _ in pairs:
            if name.startswith("_") and name not in ("_id",):
                raise _bad(f"{name[:40]!r} is not a filter", "criteria")
        for each in types:
            try:
                parse_query(each, pairs)
            except InvalidInput as exc:
                raise _bad(f"filter {exc.field}: not a search parameter", "criteria") from None
        found += [f"{each}?{query if mark else text}" for each in types]
    return tuple(found)


def _check_endpoint(endpoint: Any, settings: FhirSettings) -> str:
    if not isinstance(endpoint, str) or not endpoint:
        raise _bad("a rest-hook endpoint URL is required", "channel.endpoint")
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad("must be an http(s) URL", "channel.endpoint")
    if parts.scheme == "http" and not settings.subscription_allow_http:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise _bad("must be https (notifications may carry PHI)", "channel.endpoint")
    return endpoint


def _secret(channel: dict[str, Any]) -> str:
    found = _extensions(channel, SECRET_EXTENSION)
    value = found[0].get("valueString") if found else None
    if not isinstance(value, str) or len(value) < MIN_SECRET:
        raise _bad(
            f"an HMAC secret of at least {MIN_SECRET} characters is required "
            f"(extension {SECRET_EXTENSION})",
            "channel.extension",
        )
    return value


def _payload(channel: dict[str, Any]) -> str:
    mime = channel.get("payload")
    if mime is None:
        return "empty"
    if mime not in ("application/fhir+json", "application/json"):
        raise _bad("only application/fhir+json is sent", "channel.payload")
    found = _extensions(channel.get("_payload"), PAYLOAD_EXTENSION)
    content = found[0].get("valueCode") if found else "id-only"
    if content not in PAYLOADS:
        raise _bad(f"content must be one of {', '.join(PAYLOADS)}", "channel.payload")
    return str(content)


def _heartbeat(channel: dict[str, Any]) -> int | None:
    found = _extensions(channel, HEARTBEAT_EXTENSION)
    if not found:
        return None
    value = found[0].get("valueUnsignedInt")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _bad("the heartbeat period is a positive number of seconds", "channel.extension")
    return value


def _end(body: dict[str, Any]) -> datetime | None:
    end = body.get("end")
    if end is None:
        return None
    try:
        return ensure_utc(datetime.fromisoformat(str(end).replace("Z", "+00:00")))
    except ValueError:
        raise _bad("not an instant", "end") from None


def parse_subscription(body: dict[str, Any], settings: FhirSettings) -> Wanted:
    """Validate a posted Subscription; every refusal names the element."""
    if body.get("resourceType") != "Subscription":
        raise InvalidInput("resourceType: expected Subscription", field="resourceType")
    topic = topic_for(str(body.get("criteria") or ""))
    if topic is None:
        raise _bad("not a topic served here (see /fhir/metadata)", "criteria")
    channel = body.get("channel")
    if not isinstance(channel, dict) or channel.get("type") != "rest-hook":
        raise _bad("only rest-hook channels are supported", "channel.type")
    headers = channel.get("header") or []
    if not isinstance(headers, list) or not all(isinstance(h, str) and ":" in h for h in headers):
        raise _bad("headers are 'Name: value' strings", "channel.header")
    return Wanted(
        topic=topic,
        filters=_filters(body, topic),
        endpoint=_check_endpoint(channel.get("endpoint"), settings),
        payload=_payload(channel),
        secret=_secret(channel),
        headers=tuple(headers),
        heartbeat_seconds=_heartbeat(channel),
        reason=str(body.get("reason") or "")[:200],
        end=_end(body),
    )


def check_manage(principal: Principal, topic: Topic | None = None) -> None:
    """Staff who may read what the topic sends (and SMART clients with a Subscription write
    scope): a subscription discloses every matching resource to its endpoint."""
    if not principal.is_staff:
        raise PermissionDenied("only staff and system clients manage subscriptions")
    for rtype in topic.types if topic else ("Flag",):
        access.check_read(principal, rtype)
    if topic is not None:
        access.check_write(principal, "Subscription")


def create(
    session: Session, wanted: Wanted, *, clock: Clock, principal: Principal
) -> FhirSubscription:
    """Store the subscription (``requested``) and queue its handshake."""
    now = clock.now()
    row = FhirSubscription(
        id=secrets.token_hex(8),
        kind="rest-hook",
        topic=wanted.topic.url,
        filters=list(wanted.filters),
        status="requested",
        endpoint=wanted.endpoint,
        payload=wanted.payload,
        secret=wanted.secret,
        headers=list(wanted.headers),
        heartbeat_seconds=wanted.heartbeat_seconds,
        reason=wanted.reason,
        end=wanted.end,
        created_by=principal.actor,
        created_at=now,
        watermark=now,
        events=0,
    )
    session.add(row)
    session.flush()  # the row first: no ORM relationship orders the inserts
    session.add(queued(row.id, "handshake", now))
    session.flush()
    return row


def queued(
    subscription_id: str,
    kind: str,
    now: datetime,
    *,
    focus: str | None = None,
    number: int | None = None,
) -> FhirNotification:
    return FhirNotification(
        subscription_id=subscription_id,
        kind=kind,
        focus=focus,
        event_number=number,
        status="pending",
        attempts=0,
        created_at=now,
        next_attempt_at=now,
    )


def get(session: Session, subscription_id: str) -> FhirSubscription:
    row = session.get(FhirSubscription, subscription_id)
    if row is None or row.kind != "rest-hook":
        raise NotFound("no Subscription with this id")
    return row


def listed(session: Session, *, status: str | None = None) -> list[FhirSubscription]:
    query = select(FhirSubscription).where(FhirSubscription.kind == "rest-hook")
    if status is not None:
        query = query.where(FhirSubscription.status == status)
    return list(session.scalars(query.order_by(FhirSubscription.created_at)))


def delete(session: Session, subscription_id: str) -> None:
    """Deleting ends delivery at once (pending notifications go with it)."""
    session.delete(get(session, subscription_id))
    session.flush()


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def as_resource(row: FhirSubscription) -> dict[str, Any]:
    """The Subscription as served: without the secret and headers (credentials)."""
    channel: dict[str, Any] = {"type": "rest-hook", "endpoint": row.endpoint}
    if row.payload != "empty":
        channel["payload"] = "application/fhir+json"
        channel["_payload"] = {"extension": [{"url": PAYLOAD_EXTENSION, "valueCode": row.payload}]}
    if row.heartbeat_seconds:
        channel["extension"] = [
            {"url": HEARTBEAT_EXTENSION, "valueUnsignedInt": row.heartbeat_seconds}
        ]
    resource: dict[str, Any] = {
        "resourceType": "Subscription",
        "id": row.id,
        "meta": {"profile": [PROFILE]},
        "status": row.status,
        "reason": row.reason or "careloop notifications",
        "criteria": row.topic,
        "channel": channel,
    }
    if row.filters:
        resource["_criteria"] = {
            "extension": [{"url": FILTER_EXTENSION, "valueString": f} for f in row.filters]
        }
    if row.end is not None:
        resource["end"] = _iso(row.end)
    if row.status == "error":
        resource["error"] = "the endpoint did not accept the handshake; see the dead letters"
    return resource
