"""Queuing a batch by COPY (PostgreSQL, a night's slice) writes the rows the INSERT writes."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from tests.outreach.conftest import make_patient

from careloop.models import OutboxMessage
from careloop.outreach.held_enrollments import hold, write_held
from careloop.outreach.outbox import NewMessage, enqueue_flags, enqueue_many
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


# Rows this transaction wrote into the outbox's staging table.
STAGED = """SELECT coalesce(sum(n_tup_ins), 0) FROM pg_stat_xact_all_tables
            WHERE relname = 'careloop_copy_outreach_outbox'"""


def test_the_first_steps_of_new_enrollments_go_straight_in_and_a_repeat_is_not_doubled(
    rt: Runtime,
) -> None:
    if rt.engine.dialect.name != "postgresql":
        pytest.skip("enrollments are held unwritten on PostgreSQL only")
    for k in range(40):
        make_patient(rt, patient_id=f"p{k}", phone=f"+1555010{k:04d}")
    enrollment = {"program": "colorectal", "arm": "outreach", "state": "eligible",
                  "anchors": {}, "fields": {}, "next_step": 1, "step_due_at": None,
                  "unanswered": 0, "enrolled_at": NOW, "state_changed_at": NOW,
                  "follow_until": None}  # fmt: skip
    with rt.transaction() as session:
        held = hold(
            session, [enrollment | {"patient_id": f"p{k}", "episode": f"e{k}"} for k in range(40)]
        )
        write_held(session)
        steps = [
            replace(m, enrollment_id=e.id, idempotency_key=f"enr{e.id}:first")
            for m, e in zip(_batch("unused"), held, strict=True)
        ]
        first = enqueue_flags(session, messages=steps, now=NOW, copy_from=1)
        staged = session.scalar(text(STAGED))
        again = enqueue_flags(session, messages=steps[:5], now=NOW, copy_from=1)
    assert first == [True] * 40
    assert staged == 0  # COPY'd into the table, not staged first
    assert again == [True] * 5  # queued at this moment already: the same answer, no error
    with rt.transaction() as session:
        later = enqueue_flags(session, messages=steps, now=NOW + timedelta(days=1), copy_from=1)
        stored = session.scalars(
            select(OutboxMessage.idempotency_key).where(OutboxMessage.enrollment_id.is_not(None))
        ).all()
    assert later == [False] * 40  # a later transaction's repeat is a duplicate
    assert sorted(stored) == sorted(m.idempotency_key for m in steps)
