"""Per-sender pacing shared by every worker: send slots reserved in the database.

A sender (``sms:+15550100``) has one row holding the next free moment. A worker reserving
``k`` slots locks that row (``SELECT ... FOR UPDATE``), takes ``k`` consecutive slots one
interval apart from ``max(next_slot_at, now)``, moves the row past them and commits; it then
calls the provider no earlier than each slot. Two workers can never hold the same slot, so
the rate holds exactly across processes and hosts, and nothing lives in process memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.db import any_of
from careloop.models import SenderSlot
from careloop.outreach.results_sql import bulk_update


def sender_key(channel: str, sender: str | None) -> str:
    return f"{channel}:{sender or 'default'}"


@dataclass(frozen=True, slots=True)
class Reservation:
    slots: tuple[datetime, ...]
    next_free: datetime


SENDER_SLOTS = cast(Table, SenderSlot.__table__)


def ensure_sender_rows(session: Session, keys: Sequence[str], *, now: datetime) -> None:
    """A row for each sender key, free from ``now`` (existing rows are left as they are)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Core statements with one parameter set per sender (executemany): each compiles once
    # and is cached. A multi-row ``VALUES`` list compiled afresh on every call, and the ORM
    # layer around it, were most of the worker's CPU for a reservation (dispatch profile).
    session.connection().execute(
        insert(SENDER_SLOTS).on_conflict_do_nothing(index_elements=["sender_key"]),
        [{"sender_key": key, "next_slot_at": now} for key in keys],
    )


def _lock_rows(session: Session, keys: Sequence[str]) -> dict[str, datetime]:
    """Lock the senders' rows in key order (so workers never deadlock); their next free
    moments, for the rows that exist."""
    table = SENDER_SLOTS
    return dict(
        session.connection()
        .execute(
            select(table.c.sender_key, table.c.next_slot_at)
            .where(any_of(session, table.c.sender_key, keys))
            .order_by(table.c.sender_key)
            .with_for_update()
        )
        .tuples()
        .all()
    )


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
    return reserve_many(session, wanted={key: (count, interval)}, now=now, horizon=horizon)[key]


def reserve_many(
    session: Session,
    *,
    wanted: Mapping[str, tuple[int, timedelta]],
    now: datetime,
    horizon: timedelta,
    not_before: Mapping[str, Sequence[datetime]] | None = None,
) -> dict[str, Reservation]:
    """:func:`reserve_slots` for many senders at once, ``{key: (count, interval)}``: three
    round trips whatever the number of senders (a batch spread over 100 short codes took 200
    round trips one sender at a time). Rows are locked in key order, so workers reserving
    overlapping senders never deadlock.

    ``not_before[key][i]``: the earliest the worker will get to that sender's ``i``-th
    message (it sends one after another), so the slot is not already past when its turn
    comes; a slot is still never closer than ``interval`` to the one before."""
    if not wanted:
        return {}
    keys = sorted(wanted)
    table = SENDER_SLOTS
    current = _lock_rows(session, keys)
    if len(current) < len(keys):
        # A sender's first reservation: create its row, then lock all of them again in key
        # order. Every later reservation skips the insert (one round trip of the few each
        # group commit makes).
        ensure_sender_rows(session, keys, now=now)
        current = _lock_rows(session, keys)
    limit = now + horizon
    out: dict[str, Reservation] = {}
    moved: list[dict[str, object]] = []
    for key in keys:
        count, interval = wanted[key]
        start = max(ensure_utc(current[key]), now)
        earliest = (not_before or {}).get(key, ())
        slots: list[datetime] = []
        moment = start
        while len(slots) < count:
            if len(slots) < len(earliest):
                moment = max(moment, earliest[len(slots)])
            if moment > limit:
                break
            slots.append(moment)
            moment += interval
        next_free = slots[-1] + interval if slots else start
        if slots:
            moved.append({"b_key": key, "next_slot_at": next_free})
        out[key] = Reservation(slots=tuple(slots), next_free=next_free)
    # One statement for all senders on PostgreSQL (their rows are locked already, in key
    # order); an executemany of one update per sender elsewhere.
    bulk_update(
        session,
        table,
        key={"b_key": table.c.sender_key},
        columns=["next_slot_at"],
        rows=moved,
        where=true(),
        constants={},
    )
    return out
