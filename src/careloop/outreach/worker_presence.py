"""Which workers are alive: a killed worker's senders and rows taken over at once.

A worker's sender leases and claimed rows carry a lease (``worker.lease_seconds``); without
more, a SIGKILLed worker's senders stand still until it runs out. On PostgreSQL each worker
also holds a *session* advisory lock ``(NAMESPACE, lock_key)`` on a connection of its own for
as long as it lives, and lists itself in ``outreach_worker_presence``. The server releases
the lock the moment the process's connection drops (a kill, a crash, the host gone), so a
listed worker whose lock nobody holds is dead: the others, on their next claim, adopt its
sender leases and its ``sending`` rows as if their leases had run out (its ``calling``
attempts become in doubt and are reconciled before anything is re-sent, as after a lease).

A worker that is merely slow (descheduled, stopped, a long gateway call) still holds its
lock, so nobody adopts its work before its leases end: two workers never send for the same
sender at once. A dead worker is adopted once seen dead for a grace (``TAKEOVER_GRACE``, 1 s:
a gateway call in flight when a live worker's connection dropped has ended by then), and only
the rows and leases it has not renewed since it was first seen dead: a worker whose
connection was replaced takes its lock again before it claims or renews, and what it renewed
stays its own (rows adopted before that are no longer its own: ``still_held``). A worker
listed before the server last started is not judged by its lock (a restart drops every lock):
its leases decide, until it lists itself again. Before each send a worker checks, without a
round trip, that nothing arrived on its lock connection (the server ending it): if so it
stops (:class:`PresenceLost`), its rows left ``calling`` for whoever adopts them to reconcile.
Not covered: a network cut the server notices (TCP keepalive) but the worker does not, within
the group it is sending (at most half a lease of slots).
SQLite has no advisory locks: a single worker, leases only, as before.
"""

from __future__ import annotations

import contextlib
import logging
import select
import threading
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    create_engine,
    delete,
    exists,
    false,
    func,
    or_,
    text,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import InstrumentedAttribute, Session
from sqlalchemy.pool import NullPool

from careloop.errors import CareloopError, InvalidInput
from careloop.models import OutboxMessage, SenderSlot, WorkerPresence
from careloop.outreach.states import OutboxState

log = logging.getLogger("careloop.outreach.worker_presence")

Adopt = Mapping[str, datetime]
"""Dead workers to take over, each with when this worker first saw it dead."""

NAMESPACE = 0x636C  # "cl": the first key of every worker's advisory lock
"""The advisory lock's first key; the second is :func:`lock_key` of the worker id."""

_DEAD = text(
    "SELECT p.worker_id FROM outreach_worker_presence p WHERE p.worker_id <> :me "
    "AND NOT EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' "
    "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid = CAST(:ns AS oid) AND l.objid = CAST(p.lock_key AS oid) "
    "AND l.objsubid = 2 AND l.granted) "
    # Listed on another server start (a restart, or a standby promoted by a failover, whose
    # start time is older still): its lock went with that server, not with its process
    # (which reconnects and lists itself again); its leases decide.
    "AND p.server_started = pg_postmaster_start_time()"
)

_MINE = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
    "AND pid = pg_backend_pid() AND classid = CAST(:ns AS oid) "
    "AND objid = CAST(:key AS oid) AND objsubid = 2 AND granted)"
)

WATCH_EVERY = timedelta(milliseconds=250)
"""How often a busy worker asks, between its groups, which workers are dead (one statement
on its lock connection): a death is seen within this, not at the worker's next claim (up to
half a lease later), so the grace runs while the batch is still being sent."""

TAKEOVER_GRACE = timedelta(seconds=1)
"""How long a worker must have been seen dead (its advisory lock free) before its work is
adopted: a connection that is merely being replaced is not a death, and a gateway call a
live worker had in flight when its connection dropped (Twilio: 0.1-0.3 s) has ended."""


def lock_key(worker_id: str) -> int:
    """The advisory lock's second key for ``worker_id`` (non-negative, so it reads back from
    ``pg_locks.objid`` unchanged)."""
    return zlib.crc32(worker_id.encode()) & 0x7FFFFFFF


class PresenceLost(CareloopError):
    """This worker's lock is gone while it lives: others may adopt its rows, so it must send
    nothing more until it holds the lock again (its next claim takes it)."""


@dataclass
class Presence:
    """This worker's lock, held on a connection no transaction of its own uses."""

    engine: Engine
    worker_id: str
    connection: Connection | None = None
    guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    """One sender thread at a time asks the lock connection (it is not thread-safe)."""

    def hold(self) -> None:
        """Take the lock (again, if its connection was lost) and list this worker."""
        if self.connection is not None and self._alive():
            return
        self.close()
        # Its own connection, never pooled: a pooled one would keep the lock after close.
        lone = create_engine(self.engine.url, poolclass=NullPool)
        connection = lone.connect().execution_options(isolation_level="AUTOCOMMIT")
        key = lock_key(self.worker_id)
        if not connection.scalar(
            text("SELECT pg_try_advisory_lock(:ns, :key)"), {"ns": NAMESPACE, "key": key}
        ):
            connection.invalidate()
            connection.close()
            raise InvalidInput(
                f"worker id {self.worker_id!r} is held by another live worker process "
                "(or shares its lock key): start this worker with another id"
            )
        self.connection = connection
        if not self._alive():  # a transaction pooler (PgBouncer) ran it on another backend
            self.close()
            raise InvalidInput(
                "the worker's advisory lock needs a session of its own: its statements ran on "
                "different server backends (a pooler in transaction mode?); connect the worker "
                "directly or through a session-mode pool, or turn presence off "
                "(CARELOOP_OUTREACH__WORKER__PRESENCE=false: leases alone decide)"
            )
        listed = func.now()
        server = func.pg_postmaster_start_time()
        connection.execute(
            pg_insert(WorkerPresence)
            .values(
                worker_id=self.worker_id, lock_key=key, started_at=listed, server_started=server
            )
            .on_conflict_do_update(
                index_elements=["worker_id"],
                set_={"lock_key": key, "started_at": listed, "server_started": server},
            )
        )
        self.connection = connection

    def intact(self) -> bool:
        """Nothing arrived on the idle lock connection: the server says nothing to an idle
        session unless it ends it, and it ends it when it drops the lock. Checked before each
        send with one ``select`` (no round trip); something there is confirmed by a query."""
        with self.guard:
            if self.connection is None or self.connection.invalidated:
                return False
            try:
                socket = self.connection.connection.dbapi_connection.fileno()  # type: ignore[union-attr]
                readable, _, _ = select.select([socket], [], [], 0)
                return not readable or self._alive()
            except Exception:
                return False

    def _alive(self) -> bool:
        """This connection still holds the lock (a connection silently replaced would not)."""
        assert self.connection is not None
        if self.connection.invalidated:
            return False
        try:
            return bool(
                self.connection.scalar(_MINE, {"ns": NAMESPACE, "key": lock_key(self.worker_id)})
            )
        except DBAPIError:
            return False

    def dead_peers(self) -> list[str] | None:
        """The listed workers other than this one whose lock is free (:func:`dead_workers`),
        asked on the lock connection (no transaction of the worker's own is open between
        its groups); ``None`` when the connection cannot answer (the next claim will)."""
        with self.guard:
            if self.connection is None or self.connection.invalidated:
                return None
            try:
                return list(self.connection.scalars(_DEAD, {"me": self.worker_id, "ns": NAMESPACE}))
            except DBAPIError:
                return None

    def close(self) -> None:
        """Leave: unlisted, and the lock goes with the connection (closed, not pooled, so no
        pooled connection keeps it)."""
        connection, self.connection = self.connection, None
        if connection is None:
            return
        # If the connection is gone, the lock went with it; the row is swept as dead.
        if not connection.invalidated:
            with contextlib.suppress(SQLAlchemyError):
                connection.execute(
                    delete(WorkerPresence).where(WorkerPresence.worker_id == self.worker_id)
                )
                # Released now: the backend exits only a moment after the close, and the
                # next hold() (the next run()) would find its own lock still taken.
                connection.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": NAMESPACE, "key": lock_key(self.worker_id)},
                )
        connection.invalidate()
        connection.close()


def hold_presence(engine: Engine, *, worker_id: str) -> Presence | None:
    """This worker's presence on PostgreSQL; ``None`` elsewhere (leases only)."""
    if engine.dialect.name != "postgresql":
        return None
    presence = Presence(engine=engine, worker_id=worker_id)
    presence.hold()
    return presence


def dead_workers(session: Session, *, worker_id: str) -> list[str]:
    """Listed workers other than this one whose advisory lock no connection holds."""
    return list(session.scalars(_DEAD, {"me": worker_id, "ns": NAMESPACE}))


@dataclass
class Takeover:
    """Dead workers as one worker sees them: adopted once seen dead for ``grace``."""

    grace: timedelta
    first_seen: dict[str, datetime] = field(default_factory=dict)
    announced: set[str] = field(default_factory=set)
    """Dead workers whose adoption this worker has logged (once each)."""

    def notice(self, dead: Iterable[str], *, now: datetime) -> None:
        """``dead`` is every listed worker seen dead now: each keeps when it was first seen
        so (the grace runs from then); ones no longer listed are forgotten."""
        dead = set(dead)
        for worker in sorted(dead - self.first_seen.keys()):
            log.info("worker %s seen dead (its advisory lock is free)", worker)
        self.first_seen = {w: self.first_seen.get(w, now) for w in dead}
        self.announced &= dead

    def adoptable(self, session: Session, *, worker_id: str, now: datetime) -> Adopt:
        """The dead workers whose work this worker may take now, each with when it was first
        seen dead (the caller claims in the same transaction); ones left with nothing to
        adopt are unlisted."""
        self.notice(dead_workers(session, worker_id=worker_id), now=now)
        ready = {w: seen for w, seen in sorted(self.first_seen.items()) if now - seen >= self.grace}
        if ready:
            for worker in sorted(ready.keys() - self.announced):
                log.info("adopting the senders and rows of dead worker %s", worker)
            self.announced |= ready.keys()
            sweep_dead(session, workers=list(ready), now=now)
        return ready


def adopted(
    owner: InstrumentedAttribute[str | None] | ColumnElement[str | None],
    until: InstrumentedAttribute[datetime | None] | ColumnElement[datetime | None],
    *,
    adopt: Adopt,
    lease: timedelta,
) -> ColumnElement[bool]:
    """Rows (``owner``, ``until``: their holder and lease end) of a dead worker that it has
    not renewed since it was first seen dead: a worker that came back (its connection
    replaced) and renewed its rows keeps them, whatever the adopter saw a moment before."""
    return or_(
        false(),
        *(and_(owner == worker, until <= seen + lease) for worker, seen in adopt.items()),
    )


def sweep_dead(session: Session, *, workers: Sequence[str], now: datetime) -> None:
    """Unlist dead workers that own nothing any more (no ``sending`` row, no live sender
    lease): what they left has been adopted."""
    owns_rows = exists().where(
        OutboxMessage.claimed_by == WorkerPresence.worker_id,
        OutboxMessage.state == str(OutboxState.SENDING),
    )
    owns_senders = exists().where(
        SenderSlot.leased_by == WorkerPresence.worker_id, SenderSlot.lease_until >= now
    )
    session.execute(
        delete(WorkerPresence)
        .where(WorkerPresence.worker_id.in_(list(workers)), ~owns_rows, ~owns_senders)
        .execution_options(synchronize_session=False)
    )


__all__ = [
    "NAMESPACE",
    "TAKEOVER_GRACE",
    "WATCH_EVERY",
    "Adopt",
    "Presence",
    "PresenceLost",
    "Takeover",
    "adopted",
    "dead_workers",
    "hold_presence",
    "lock_key",
]
