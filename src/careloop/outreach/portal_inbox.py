"""The portal inbox in the database: a portal message *is* its outbox row.

The outbox row already holds everything the patient reads (title, body, language, time), so
the inbox stores nothing of its own and survives restarts with the outbox. :meth:`put` (the
worker's send) records that the row reached the inbox; reading it records ``portal_read_at``
in the row's ``extra`` and moves it to ``delivered`` through the ordinary receipt path.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.channels.messages import DeliveryReport
from careloop.channels.portal import PortalItem, read_receipt
from careloop.clock import Clock, ensure_utc
from careloop.errors import InvalidInput, NotFound
from careloop.models import OutboxMessage
from careloop.outreach.delivery import apply_report
from careloop.outreach.states import OutboxState
from careloop.runtime import Runtime

_PREFIX = "portal-"
_VISIBLE = (OutboxState.SENT, OutboxState.DELIVERED)


def item_id_for(row: OutboxMessage) -> str:
    return f"{_PREFIX}{row.id}"


def _row_for(session: Session, item_id: str) -> OutboxMessage:
    number = item_id.removeprefix(_PREFIX)
    row = session.get(OutboxMessage, int(number)) if number.isdigit() else None
    if row is None or row.channel != "portal":
        raise NotFound("no such portal item")
    return row


def mark_portal_read(
    session: Session, *, clock: Clock, item_id: str, read_at: datetime
) -> DeliveryReport:
    """Record the first read of a portal message (later reads change nothing)."""
    row = _row_for(session, item_id)
    extra = dict(row.extra or {})
    first = extra.get("portal_read_at")
    when = datetime.fromisoformat(first) if first else ensure_utc(read_at)
    if first is None:
        extra["portal_read_at"] = when.isoformat()
        row.extra = extra
        if row.provider_id is None:
            row.provider_id = item_id
    report = read_receipt(item_id=row.provider_id or item_id, read_at=when)
    apply_report(session, clock=clock, report=report, outbox_id=row.id)
    session.flush()
    return report


def mark_read_for_patient(session: Session, *, clock: Clock, patient_id: str) -> int:
    """The patient opened their messages: every portal message sent to them is now read."""
    rows = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.patient_id == patient_id,
            OutboxMessage.channel == "portal",
            OutboxMessage.state.in_([str(s) for s in _VISIBLE]),
        )
    ).all()
    now = clock.now()
    fresh = [r for r in rows if not (r.extra or {}).get("portal_read_at")]
    for row in fresh:
        mark_portal_read(session, clock=clock, item_id=item_id_for(row), read_at=now)
    return len(fresh)


class DatabasePortalInbox:
    """A :class:`careloop.channels.portal.PortalInbox` over outbox rows with channel portal.

    Called by the worker outside any transaction, so each call is its own transaction.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._rt = runtime

    def put(self, item: PortalItem) -> str:
        with self._rt.transaction() as session:
            row = session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.idempotency_key == item.idempotency_key,
                    OutboxMessage.channel == "portal",
                )
            ).first()
            if row is None or row.to_address != item.recipient:
                raise InvalidInput("no portal message queued for this item", field="portal")
            extra = dict(row.extra or {})
            if "portal_stored_at" not in extra:
                extra["portal_stored_at"] = self._rt.clock.now().isoformat()
                row.extra = extra
            return item_id_for(row)

    def mark_read(self, item_id: str, *, read_at: datetime) -> DeliveryReport:
        with self._rt.transaction() as session:
            return mark_portal_read(session, clock=self._rt.clock, item_id=item_id, read_at=read_at)
