"""Bearer tokens verified recently in this process, so a busy client's requests skip the
token and user look-ups (two SELECTs, and a pooled connection's ping, per request).

An entry is trusted for at most ``ttl`` seconds after it was read from the database. Within
that bound a revocation, a deactivated account or a changed role made by *another* process
(the CLI, a second API worker) is not yet seen here; one made through the ORM in *this*
process empties every cache at once (``after_update``/``after_delete`` on tokens and users,
and a bulk ``update()``/``delete()`` of either through a session, as erasure deletes a
patient's portal accounts).
Expiry is checked against the request's clock on every hit, and an entry whose
``last_used_at`` is more than a minute old is not used, so the database path still records
use to the minute, as ``authenticate_token`` does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session

from careloop.models import ApiToken, User
from careloop.security.principal import Principal

_generation = [0]  # bumped whenever a token or user changes in this process


@dataclass(frozen=True, slots=True)
class VerifiedToken:
    """What ``authenticate`` read about a bearer token: the principal it acts as, and the
    row's fields a later request must still check."""

    principal: Principal
    kind: str
    expires_at: datetime
    last_used_at: datetime | None

    def usable(self, now: datetime, *, last_used_resolution: timedelta) -> bool:
        """Not expired, and its use recorded recently enough that skipping the row is fine."""
        if self.expires_at <= now or self.last_used_at is None:
            return False
        return now - self.last_used_at <= last_used_resolution


class TokenCache:
    """Token digest → :class:`VerifiedToken`, each kept ``ttl`` seconds (monotonic time)."""

    def __init__(
        self,
        ttl: float,
        *,
        max_entries: int = 10_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._monotonic = monotonic
        self._entries: dict[str, tuple[float, VerifiedToken]] = {}
        self._generation = _generation[0]
        self._lock = threading.Lock()

    def get(self, digest: str) -> VerifiedToken | None:
        with self._lock:
            self._sync()
            found = self._entries.get(digest)
            if found is None:
                return None
            if self._monotonic() - found[0] > self._ttl:
                del self._entries[digest]
                return None
            return found[1]

    def put(self, digest: str, verified: VerifiedToken) -> None:
        with self._lock:
            self._sync()
            if len(self._entries) >= self._max:
                self._entries.clear()  # a flood of distinct tokens: start over, stay bounded
            self._entries[digest] = (self._monotonic(), verified)

    def _sync(self) -> None:
        if self._generation != _generation[0]:
            self._entries.clear()
            self._generation = _generation[0]


def forget_all() -> None:
    """Empty every process-local token cache (a token or user changed)."""
    _generation[0] += 1


_WATCHED = {
    ApiToken: ("revoked_at", "expires_at", "scopes", "kind", "user_id", "token_hash"),
    User: ("active", "role", "patient_id", "teams"),
}


def _changed(_mapper: Any, _connection: Any, target: Any) -> None:
    state = inspect(target)
    if any(state.attrs[name].history.has_changes() for name in _WATCHED[type(target)]):
        forget_all()


def _deleted(_mapper: Any, _connection: Any, _target: Any) -> None:
    forget_all()


def _bulk(state: ORMExecuteState) -> None:
    """Bulk statements fire no per-row events: any touching tokens or users forgets all."""
    if (state.is_update or state.is_delete) and any(
        mapper.class_ in _WATCHED for mapper in state.all_mappers
    ):
        forget_all()


for _model in _WATCHED:
    event.listen(_model, "after_update", _changed)
    event.listen(_model, "after_delete", _deleted)
event.listen(Session, "do_orm_execute", _bulk)
