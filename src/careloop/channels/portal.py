"""The patient-portal channel: an inbox message the patient reads when they sign in.

Channels may not touch domain tables, so the adapter writes through :class:`PortalInbox`, a
two-method protocol the portal (web) side implements on its own table. Reading a message is
reported back as a :class:`DeliveryReport` with status ``read`` (the read receipt); a reply
typed in the portal is an :class:`InboundMessage` classified like an SMS.
:class:`InMemoryPortalInbox` is the implementation for tests and the simulator.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from careloop.channels.keywords import parse_reply
from careloop.channels.messages import (
    ChannelKind,
    DeliveryReport,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    RateLimit,
    SendResult,
)
from careloop.clock import ensure_utc
from careloop.errors import InvalidInput, NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalItem:
    """One inbox message for one portal recipient (``recipient`` = the portal's inbox key)."""

    recipient: str
    title: str
    body: str
    html: str | None
    language: str
    idempotency_key: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredPortalItem:
    item_id: str
    item: PortalItem
    read_at: datetime | None = None


class PortalInbox(Protocol):
    def put(self, item: PortalItem) -> str:
        """Store the item and return its id; the same ``idempotency_key`` returns the same id
        without storing a second copy (a retried send must not show twice in the inbox)."""
        ...

    def mark_read(self, item_id: str, *, read_at: datetime) -> DeliveryReport:
        """Record the first time the patient opened the item; return the read receipt."""
        ...


def read_receipt(*, item_id: str, read_at: datetime) -> DeliveryReport:
    """The delivery report for a portal item the patient opened."""
    return DeliveryReport(
        channel=ChannelKind.PORTAL,
        provider_id=item_id,
        status=DeliveryStatus.READ,
        reported_at=ensure_utc(read_at),
    )


def portal_reply(
    *, item_id: str, sender: str, recipient: str, body: str, reply_id: str, received_at: datetime
) -> InboundMessage:
    """A reply typed in the portal under item ``item_id``, classified like an SMS reply."""
    reply = parse_reply(body)
    return InboundMessage(
        channel=ChannelKind.PORTAL,
        sender=sender,
        recipient=recipient,
        body=body,
        provider_id=reply_id,
        received_at=ensure_utc(received_at),
        keyword=reply.keyword,
        number=reply.number,
        possible_opt_out=reply.possible_opt_out,
        in_reply_to=item_id,
    )


class InMemoryPortalInbox:
    """A :class:`PortalInbox` in a dict: for tests, the demo and the simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, StoredPortalItem] = {}
        self._by_key: dict[str, str] = {}

    def put(self, item: PortalItem) -> str:
        with self._lock:
            existing = self._by_key.get(item.idempotency_key)
            if existing is not None:
                return existing
            item_id = f"PI{len(self._items) + 1:08d}"
            self._items[item_id] = StoredPortalItem(item_id=item_id, item=item)
            self._by_key[item.idempotency_key] = item_id
            return item_id

    def mark_read(self, item_id: str, *, read_at: datetime) -> DeliveryReport:
        with self._lock:
            stored = self._items.get(item_id)
            if stored is None:
                raise NotFound("no such portal item")
            if stored.read_at is None:
                stored = replace(stored, read_at=ensure_utc(read_at))
                self._items[item_id] = stored
            assert stored.read_at is not None
            return read_receipt(item_id=item_id, read_at=stored.read_at)

    def items_for(self, recipient: str) -> list[StoredPortalItem]:
        with self._lock:
            return [s for s in self._items.values() if s.item.recipient == recipient]


class PortalChannel:
    """Delivers by storing the message in the patient's portal inbox."""

    def __init__(self, *, inbox: PortalInbox) -> None:
        self._inbox = inbox

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.PORTAL

    def rate_limit(self, sender: str | None) -> RateLimit | None:
        return None

    def send(self, message: OutboundMessage) -> SendResult:
        if message.channel is not ChannelKind.PORTAL or message.portal is None:
            raise InvalidInput("not a portal message (portal parts missing)", field="portal")
        item_id = self._inbox.put(
            PortalItem(
                recipient=message.to,
                title=message.portal.title,
                body=message.body,
                html=message.portal.html,
                language=message.language,
                idempotency_key=message.idempotency_key,
            )
        )
        return SendResult(provider_id=item_id, status=DeliveryStatus.DELIVERED)
