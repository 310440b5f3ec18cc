"""Queuing a batch by COPY (PostgreSQL, a night's slice) writes the rows the INSERT writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from careloop.models import OutboxMessage
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.runtime import Runtime

NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SKIPPED = {"id", "idempotency_key"}


def _batch(prefix: str) -> list[NewMessage]:
    return [
        NewMessage(
            idempotency_key=f"{prefix}-{k}",
            patient_id=f"p{k}",
            purpose="care_gap",
            channel=("sms", "email")[k % 2],
            to_address=f"+1555010{k:04d}",
            body=f"Hi Ana,\tline\\one\nline two «{k}» 50%",
            due_at=NOW + timedelta(minutes=k),
            subject="Your screening" if k % 2 else None,
            html="<p>x</p>" if k % 2 else None,
            language="es",
            program="colorectal",
            step="first",
            content_version_id=k,
            propensity=0.25,
            extra={"content_hash": f"h{k}", "note": 'quote " and \\ backslash'},
        )
        for k in range(40)
    ]


def _rows(rt: Runtime, prefix: str) -> list[dict[str, Any]]:
    with rt.transaction() as session:
        found = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.idempotency_key.like(f"{prefix}-%"))
            .order_by(OutboxMessage.patient_id)
        )
        return [
            {
                c.key: getattr(m, c.key)
                for c in OutboxMessage.__table__.columns
                if c.key not in SKIPPED
            }
            for m in found
        ]


def test_a_batch_by_copy_is_stored_as_by_insert_and_a_rerun_queues_nothing_twice(
    rt: Runtime,
) -> None:
    with rt.transaction() as session:
        copied = enqueue_many(session, messages=_batch("copy"), now=NOW, copy_from=1)
        inserted = enqueue_many(session, messages=_batch("insert"), now=NOW, copy_from=10**6)
    assert all(row is not None for row in copied + inserted)
    assert len(_rows(rt, "copy")) == 40
    assert _rows(rt, "copy") == _rows(rt, "insert")

    with rt.transaction() as session:
        again = enqueue_many(
            session, messages=_batch("copy")[:35], now=NOW + timedelta(hours=1), copy_from=1
        )
    assert again == [None] * 35  # already queued: nothing returned, nothing doubled
    assert len(_rows(rt, "copy")) == 40
