"""New enrollments held unwritten until their first step is decided, then written once.

A slice enrolled by COPY and then moved each enrollment to its next step by an UPDATE in
the same transaction: two row versions and every index entry written twice (none HOT:
``step_due_at`` is indexed). Held here, an enrollment has its id from the sequence at once
(events, decision seeds and outbox keys name it), is decided on in memory
(``due_steps.collect_due`` merges it into the table's due rows) and is written by one COPY
as it stands (``due_steps.write_step_state``), before the rows that point at it. No query
sees it in between, so only a tick that reads no enrollment from the table after enrolling
holds them (``enrollment.enroll_rows(hold=True)``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any, cast

import orjson
from sqlalchemy import Table, event
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.instrumentation import manager_of_class

from careloop.db import copy_new_rows, next_ids
from careloop.models import Enrollment

HELD = "careloop.outreach.held_enrollments"
FRESH = "careloop.outreach.fresh_enrollments"  # ids written by write_held, this transaction
QUEUED = "careloop.outreach.fresh_enrollments.queued"  # outbox keys queued since
_TABLE = cast(Table, Enrollment.__table__)
_UNSET = {"last_step_at": None, "escalated_at": None, "last_reply_at": None, "ended_reason": None}


def hold(session: Session, rows: Sequence[Mapping[str, Any]]) -> list[Enrollment]:
    """Enrollments of ``rows`` (``enrollment.enrollment_values``) with ids from the sequence,
    kept out of the session (no flush can write them early) until :func:`write_held`."""
    new_instance = manager_of_class(Enrollment).new_instance
    made: list[Enrollment] = []
    for ident, row in zip(next_ids(session, _TABLE, len(rows)), rows, strict=True):
        # Every column set in the instance's dict, as a load fills it: a third of the
        # constructor's CPU, and nothing left to refresh once it is attached.
        enrollment = new_instance()
        enrollment.__dict__.update(_as_read(row), id=ident, **_UNSET)
        made.append(enrollment)
    held: list[Enrollment] | None = session.info.get(HELD)
    if held is None:
        held = session.info[HELD] = []
        # Never lost: a transaction that ends without the steps' write still writes them.
        event.listen(session, "before_commit", write_held, once=True)
    held.extend(made)
    return made


def _as_read(row: Mapping[str, Any]) -> dict[str, Any]:
    """``row`` as a read of the written row gives it back: JSON columns through JSON (a
    datetime in ``fields`` becomes its text), times in UTC; so a held enrollment renders and
    decides as the row read back did."""
    values = dict(row)
    for name in ("anchors", "fields"):
        values[name] = orjson.loads(orjson.dumps(values[name]))
    for name in ("step_due_at", "enrolled_at", "state_changed_at", "follow_until"):
        if values[name] is not None:
            values[name] = values[name].astimezone(UTC)
    return values


def fresh_enrollment_ids(session: Session) -> set[int] | None:
    """Ids of the enrollments :func:`write_held` wrote in this transaction (new ids from the
    sequence: nothing written before names them), or None when it wrote none."""
    return session.info.get(FRESH)


def _forget_fresh(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost: the ids are written (or gone) now
        session.info.pop(FRESH, None)
        session.info.pop(QUEUED, None)


def queued_keys(session: Session) -> set[str]:
    """The outbox keys queued in this transaction since :func:`write_held` wrote new
    enrollments (the outbox's COPY of their steps must not repeat one)."""
    keys: set[str] = session.info.setdefault(QUEUED, set())
    return keys


def held_enrollments(session: Session, *, program: str) -> list[Enrollment]:
    """The new enrollments of ``program`` held and not written yet."""
    return [e for e in session.info.get(HELD, ()) if e.program == program]


def write_held(session: Session) -> int:
    """Write every held enrollment as it stands now (its first step decided) by one COPY,
    and attach them to the session (later changes are UPDATEs). Returns how many."""
    held: list[Enrollment] = session.info.pop(HELD, [])
    copy_new_rows(session, _TABLE, [{c.name: e.__dict__[c.name] for c in _TABLE.c} for e in held])
    if held:
        if FRESH not in session.info and not event.contains(
            session, "after_transaction_end", _forget_fresh
        ):
            event.listen(session, "after_transaction_end", _forget_fresh)
        session.info.setdefault(FRESH, set()).update(e.id for e in held)
    for enrollment in held:
        make_transient_to_detached(enrollment)  # as if flushed
        session.add(enrollment)
    return len(held)
