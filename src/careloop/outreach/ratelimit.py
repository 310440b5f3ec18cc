"""Per-sender pacing shared by every worker: send slots reserved in the database.

A sender (``sms:+15550100``) has one row holding the next free moment. A worker reserving
``k`` slots locks that row (``SELECT ... FOR UPDATE``), takes ``k`` consecutive slots one
interval apart from ``max(next_slot_at, now)``, moves the row past them and commits; it then
calls the provider no earlier than each slot. Two workers can never hold the same slot, so
the rate holds exactly across processes and hosts, and nothing lives in process memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.models import SenderSlot


def sender_key(channel: str, sender: str | None) -> str:
    return f"{channel}:{sender or 'default'}"


@dataclass(frozen=True, slots=True)
class Reservation:
    slots: tuple[datetime, ...]
    next_free: datetime


def reserve_slots(
    session: Session,
    *,
    key: str,
    count: int,
    interval: timedelta,
    now: datetime,
    horizon: timedelta,
) -> Reservation:
    """Reserve up to ``count`` consecutive slots that start no later than ``now + horizon``.

    The caller commits right after, so the row lock is held for one round trip.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(SenderSlot)
        .values(sender_key=key, next_slot_at=now)
        .on_conflict_do_nothing(index_elements=["sender_key"])
    )
    row = session.scalars(
        select(SenderSlot).where(SenderSlot.sender_key == key).with_for_update()
    ).one()
    start = max(row.next_slot_at, now)
    limit = now + horizon
    slots: list[datetime] = []
    moment = start
    while len(slots) < count and moment <= limit:
        slots.append(moment)
        moment += interval
    if slots:
        row.next_slot_at = slots[-1] + interval
    session.flush()
    return Reservation(slots=tuple(slots), next_free=row.next_slot_at)
