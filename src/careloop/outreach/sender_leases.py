"""Each worker claims its own senders: a paced sender is leased to one worker at a time.

Send slots are reserved on the sender's row under a row lock
(:mod:`careloop.outreach.ratelimit`). When every worker claimed messages of every sender,
all of them locked the same rows for each group and queued behind each other: 4 workers
sent slower than 2. Before claiming messages a worker now leases the senders of the oldest
due messages, skipping senders another worker holds (``FOR UPDATE SKIP LOCKED``, then
``leased_by``/``lease_until``), only as many as its claim needs, and claims messages of
those senders only. Workers so send from disjoint senders and never wait on each other's
sender rows; the slots still keep each sender's rate exact if two ever overlap (a lease
that ran out under a slow worker), so the lease is a partition, not what the rate rests on.
Unpaced senders (no rate limit) are never leased: any worker sends from them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, exists, false, func, literal, or_, select, update
from sqlalchemy.orm import Session

from careloop.models import OutboxMessage
from careloop.outreach.ratelimit import SENDER_SLOTS, ensure_sender_rows, sender_key
from careloop.outreach.worker_presence import Adopt, adopted

Capacity = Callable[[str, str | None], float | None]
"""Messages a sender (channel, address) can take within half a lease; ``None``: unpaced."""

WINDOW = 4
"""Due messages looked at to choose senders, as a multiple of the claim: the oldest ones."""


def sender_key_of_row() -> ColumnElement[str]:
    """:func:`~careloop.outreach.ratelimit.sender_key` of an outbox row, in SQL."""
    return OutboxMessage.channel + literal(":") + func.coalesce(OutboxMessage.sender, "default")


def lease_senders(
    session: Session,
    *,
    due: ColumnElement[bool],
    worker_id: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    capacity: Capacity,
    adopt: Adopt | None = None,
) -> list[str]:
    """Lease the senders of the oldest ``due`` messages that no other worker holds, until
    their capacity covers ``limit`` messages; returns the keys this worker may claim from
    (the leased ones and the unpaced ones seen). The caller commits at once. Leases of
    ``adopt`` (dead workers, :mod:`careloop.outreach.worker_presence`) count as run out."""
    slots = SENDER_SLOTS.c
    key = sender_key_of_row()
    taken = (
        adopted(slots.leased_by, slots.lease_until, adopt=adopt, lease=lease) if adopt else false()
    )
    held_elsewhere = exists().where(
        slots.sender_key == key, slots.leased_by != worker_id, slots.lease_until >= now, ~taken
    )
    window = (
        select(OutboxMessage.channel, OutboxMessage.sender, OutboxMessage.next_attempt_at)
        .where(due, ~held_elsewhere)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit * WINDOW)
        .subquery()
    )
    # Whether each sender already has its row, in the same round trip: only a sender's
    # first lease needs the insert.
    has_row = exists().where(
        slots.sender_key
        == window.c.channel + literal(":") + func.coalesce(window.c.sender, "default")
    )
    seen = session.execute(
        select(window.c.channel, window.c.sender, func.count(), has_row)
        .group_by(window.c.channel, window.c.sender)
        .order_by(func.min(window.c.next_attempt_at), window.c.channel, window.c.sender)
    ).all()
    paced: list[tuple[str, float]] = []
    unpaced: list[str] = []
    rowless: set[str] = set()
    for channel, sender, count, row_exists in seen:
        if not row_exists:
            rowless.add(sender_key(channel, sender))
        room = capacity(channel, sender)
        if room is None:
            unpaced.append(sender_key(channel, sender))
        else:
            paced.append((sender_key(channel, sender), min(count, room)))
    free = or_(
        slots.leased_by.is_(None),
        slots.leased_by == worker_id,
        slots.lease_until < now,
        taken,
    )
    got: list[str] = []
    needed = float(limit)
    while needed > 0 and paced:
        # The oldest senders that cover what is still needed; one whose row another worker
        # has locked (reserving its slots, or leasing it this moment) is passed over.
        wanted: dict[str, float] = {}
        while paced and needed > 0:
            key_, take = paced.pop(0)
            wanted[key_] = take
            needed -= take
        missing = [k for k in wanted if k in rowless]
        if missing:
            ensure_sender_rows(session, missing, now=now)
        locked = set(
            session.scalars(
                select(slots.sender_key)
                .where(slots.sender_key.in_(list(wanted)), free)
                .order_by(slots.sender_key)
                .with_for_update(skip_locked=True)
            )
        )
        got.extend(k for k in wanted if k in locked)
        needed += sum(take for k, take in wanted.items() if k not in locked)
    if got:
        session.execute(
            update(SENDER_SLOTS)
            .where(slots.sender_key.in_(got))
            .values(leased_by=worker_id, lease_until=now + lease)
        )
    return [*got, *unpaced]


def release_senders(session: Session, *, worker_id: str) -> None:
    """Hand back every sender this worker leased (its batch is through), so the next claim,
    this worker's or another's, starts again from the oldest due messages."""
    slots = SENDER_SLOTS.c
    session.execute(
        update(SENDER_SLOTS)
        .where(slots.leased_by == worker_id)
        .values(leased_by=None, lease_until=None)
    )
