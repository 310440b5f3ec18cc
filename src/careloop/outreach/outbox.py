"""The transactional outbox: writing rendered messages, and each move of a message's lifecycle.

:func:`enqueue` runs inside the scheduler's (or webhook's) transaction, next to the decision
it carries, so a message exists exactly when its decision does. Transitions after that are
made by the worker through the named functions here (see the diagram in
:mod:`careloop.outreach.states`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from careloop.clock import ensure_utc
from careloop.db import any_of, copy_then_insert
from careloop.models import OutboxMessage
from careloop.outreach.held_enrollments import fresh_enrollment_ids, queued_keys
from careloop.outreach.states import DeadReason, OutboxState


@dataclass(frozen=True, slots=True, kw_only=True)
class NewMessage:
    """A rendered message, addressed and timed, ready to be queued."""

    idempotency_key: str
    patient_id: str
    purpose: str
    channel: str
    to_address: str
    body: str
    due_at: datetime
    sender: str | None = None
    subject: str | None = None
    html: str | None = None
    language: str = "en"
    enrollment_id: int | None = None
    program: str | None = None
    step: str | None = None
    recipient_kind: str = "patient"
    caregiver_id: str | None = None
    content_message: str | None = None
    content_version_id: int | None = None
    decision_id: str | None = None
    propensity: float | None = None
    max_attempts: int = 5
    extra: dict[str, Any] = field(default_factory=dict)


def _values(message: NewMessage, now: datetime) -> dict[str, Any]:
    due = ensure_utc(message.due_at)
    return {
        "idempotency_key": message.idempotency_key,
        "enrollment_id": message.enrollment_id,
        "patient_id": message.patient_id,
        "program": message.program,
        "step": message.step,
        "purpose": message.purpose,
        "recipient_kind": message.recipient_kind,
        "caregiver_id": message.caregiver_id,
        "channel": message.channel,
        "sender": message.sender,
        "to_address": message.to_address,
        "subject": message.subject,
        "body": message.body,
        "html": message.html,
        "language": message.language,
        "extra": dict(message.extra),
        "content_message": message.content_message,
        "content_version_id": message.content_version_id,
        "decision_id": message.decision_id,
        "propensity": message.propensity,
        "state": str(OutboxState.QUEUED),
        "due_at": due,
        "next_attempt_at": due,
        "attempts": 0,
        "max_attempts": message.max_attempts,
        "created_at": now,
        "updated_at": now,
    }


def enqueue(session: Session, *, message: NewMessage, now: datetime) -> OutboxMessage | None:
    """Queue one message; ``None`` when its idempotency key is already queued (a re-run)."""
    return enqueue_many(session, messages=[message], now=now)[0]


# From this many messages on, PostgreSQL takes them by COPY (a night's slice queues hundreds;
# a webhook one or two, for which the temporary table would cost more than it saves).
COPY_FROM = 32


def enqueue_many(
    session: Session, *, messages: list[NewMessage], now: datetime, copy_from: int = COPY_FROM
) -> list[OutboxMessage | None]:
    """Queue many with one INSERT ... ON CONFLICT DO NOTHING; duplicates come back as None."""
    if not messages:
        return []
    keys = _write(session, messages=messages, now=now, copy_from=copy_from)
    found = {
        row.idempotency_key: row
        for row in session.scalars(select(OutboxMessage).where(*_queued_at(session, keys, now)))
    }
    return [found.get(k) for k in keys]


def enqueue_flags(
    session: Session, *, messages: list[NewMessage], now: datetime, copy_from: int = COPY_FROM
) -> list[bool]:
    """:func:`enqueue_many` for a caller that needs only which messages are queued (a
    night's slice counts them): the same rows written, their keys read back instead of
    whole rows, so no ORM object is built for hundreds of rows nobody reads.

    On PostgreSQL the INSERT returns the keys it wrote; only the others (duplicates, or a
    key this moment already queued) are looked up, usually none: no read-back. The steps of
    enrollments new in this transaction (a night's first steps) cannot conflict: they are
    COPY'd straight into the table (one write of each row, not staged, inserted, deleted)."""
    if not messages:
        return []
    if (new := _all_new(session, messages, copy_from=copy_from)) is not None:
        session.flush()  # the enrollments the rows point at
        queued_keys(session).update(new)
        copy_then_insert(
            session,
            table=OutboxMessage.__tablename__,
            rows=[_values(m, now) for m in messages],
            conflict="",
            json_columns=("extra",),
        )
        return [True] * len(messages)
    inserted: set[str] = set()
    keys = _write(session, messages=messages, now=now, copy_from=copy_from, returned=inserted)
    rest = [k for k in keys if k not in inserted]
    found = inserted | set(
        session.scalars(
            select(OutboxMessage.idempotency_key).where(*_queued_at(session, rest, now))
        )
        if rest
        else ()
    )
    return [k in found for k in keys]


def _all_new(session: Session, messages: list[NewMessage], *, copy_from: int) -> set[str] | None:
    """The messages' keys when every one is a step of an enrollment written new in this
    transaction (``held_enrollments.write_held``), keyed by it (``enr<id>:...``) and not
    queued before: no row can hold such a key, so the ``ON CONFLICT DO NOTHING`` insert
    would write every row. None otherwise."""
    fresh = fresh_enrollment_ids(session)
    if not fresh or len(messages) < copy_from or session.get_bind().dialect.name != "postgresql":
        return None
    keys = {m.idempotency_key for m in messages}
    if len(keys) < len(messages) or not keys.isdisjoint(queued_keys(session)):
        return None
    if not all(
        m.enrollment_id in fresh and m.idempotency_key.startswith(f"enr{m.enrollment_id}:")
        for m in messages
    ):
        return None
    return keys


def _write(
    session: Session,
    *,
    messages: list[NewMessage],
    now: datetime,
    copy_from: int,
    returned: set[str] | None = None,
) -> list[str]:
    """One INSERT ... ON CONFLICT DO NOTHING (COPY on PostgreSQL from ``copy_from`` rows on);
    the messages' keys. With ``returned``, the keys the COPY path inserted are added to it."""
    rows = [_values(m, now) for m in messages]
    if fresh_enrollment_ids(session):
        queued_keys(session).update(m.idempotency_key for m in messages)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql" and len(rows) >= copy_from:
        session.flush()  # the enrollments the rows point at
        written = copy_then_insert(
            session,
            table=OutboxMessage.__tablename__,
            rows=rows,
            conflict="ON CONFLICT (idempotency_key) DO NOTHING"
            + (" RETURNING idempotency_key" if returned is not None else ""),
            json_columns=("extra",),
        )
        if returned is not None:
            returned.update(key for (key,) in written)
    else:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["idempotency_key"])
        session.execute(stmt, rows)
    return [m.idempotency_key for m in messages]


def _queued_at(session: Session, keys: list[str], now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Rows queued under ``keys`` at ``now`` (a key queued earlier is a duplicate)."""
    return (
        any_of(session, OutboxMessage.idempotency_key, keys),
        OutboxMessage.created_at == now,
    )


def backoff_delay(
    *, attempt: int, base: float, cap: float, rng: random.Random | None = None
) -> timedelta:
    """Exponential backoff with full jitter: uniform in [base/2, min(cap, base * 2^(n-1))].

    The jitter spreads retries of a provider outage so they do not return all at once.
    """
    ceiling = min(cap, base * (2 ** max(attempt - 1, 0)))
    draw = (rng or random).uniform(min(base / 2, ceiling), ceiling)
    return timedelta(seconds=draw)


def mark_sent(message: OutboxMessage, *, provider_id: str, now: datetime) -> None:
    message.state = str(OutboxState.SENT)
    message.provider_id = provider_id
    message.sent_at = now
    message.lease_until = None
    message.last_error = None
    message.updated_at = now


def mark_delivered(message: OutboxMessage, *, now: datetime) -> bool:
    """sent → delivered; a late receipt never moves a message backward."""
    if message.state not in (OutboxState.SENT, OutboxState.SENDING):
        return False
    message.state = str(OutboxState.DELIVERED)
    message.delivered_at = now
    message.updated_at = now
    return True


def mark_failed(
    message: OutboxMessage,
    *,
    reason: str,
    permanent: bool,
    now: datetime,
    retry_in: timedelta,
) -> OutboxState:
    """A failed attempt: retry later (failed-transient) or dead-letter with a named reason."""
    message.last_error = reason
    message.lease_until = None
    message.updated_at = now
    if permanent:
        return mark_dead(message, reason=DeadReason.PERMANENT_FAILURE, now=now)
    if message.attempts >= message.max_attempts:
        return mark_dead(message, reason=DeadReason.MAX_ATTEMPTS, now=now)
    message.state = str(OutboxState.FAILED_TRANSIENT)
    message.next_attempt_at = now + retry_in
    return OutboxState.FAILED_TRANSIENT


def mark_dead(message: OutboxMessage, *, reason: DeadReason, now: datetime) -> OutboxState:
    message.state = str(OutboxState.DEAD)
    message.dead_reason = str(reason)
    message.lease_until = None
    message.updated_at = now
    return OutboxState.DEAD


def find_by_provider_id(session: Session, *, provider_id: str) -> OutboxMessage | None:
    return session.scalars(
        select(OutboxMessage).where(OutboxMessage.provider_id == provider_id)
    ).first()


def last_message_to(
    session: Session, *, channel: str, address: str, patient_id: str | None = None
) -> OutboxMessage | None:
    """The newest message sent to this address on this channel (what a reply answers)."""
    query = select(OutboxMessage).where(
        OutboxMessage.channel == channel,
        OutboxMessage.to_address == address,
        OutboxMessage.state.in_([OutboxState.SENT, OutboxState.DELIVERED, OutboxState.SENDING]),
    )
    if patient_id is not None:
        query = query.where(OutboxMessage.patient_id == patient_id)
    return session.scalars(
        query.order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
    ).first()


def last_message_of(session: Session, *, patient_id: str) -> OutboxMessage | None:
    """The patient's newest message of a journey that left (any channel)."""
    return session.scalars(
        select(OutboxMessage)
        .where(
            OutboxMessage.patient_id == patient_id,
            OutboxMessage.recipient_kind == "patient",
            OutboxMessage.state.in_([OutboxState.SENT, OutboxState.DELIVERED]),
        )
        .order_by(OutboxMessage.sent_at.desc(), OutboxMessage.id.desc())
    ).first()
