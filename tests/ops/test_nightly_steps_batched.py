"""A slice's steps write what the one-by-one path writes.

The enrollments a slice's steps move (next step, when it is due, last send, unanswered
count) are written in one statement (``UPDATE ... FROM jsonb_to_recordset`` on PostgreSQL,
executemany on SQLite) instead of one UPDATE each; new enrollments go by COPY as rows, no ORM
object built; messages are rendered once per variant and channel with each patient's fields
filled in; a batch's decisions are built once per group of equal inputs
(``personalize.materialize``) and only the queued messages' keys are read back.
Here the same slice runs both ways from the same state (identifiers included, so the engine
draws the same numbers) and everything it writes is compared: counts, enrollments,
decisions, outbox rows with their texts and due times.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from careloop import db, events
from careloop.compose import nightly
from careloop.compose.nightly import run_slice
from careloop.models import DecisionRow, Enrollment, Event, OutboxMessage
from careloop.outreach import due_steps, step_messages
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.render_memo import RenderMemo
from careloop.personalize import decision_log
from careloop.personalize.engine import BatchDecision, Decision
from careloop.records.service import patient_ids
from careloop.runtime import Runtime
from tests.ops.test_nightly import _population

NIGHT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
WRITTEN = (OutboxMessage, DecisionRow, Event, Enrollment)  # children first


def _tops(session: Session) -> dict[str, int]:
    return {
        m.__tablename__: int(session.scalar(select(func.max(m.id))) or 0)
        for m in (OutboxMessage, Event, Enrollment)
    }


def _rewind(rt: Runtime, tops: dict[str, int]) -> None:
    """Remove what the night wrote and number new rows from where they were numbered before."""
    with rt.transaction() as session:
        session.execute(text("DELETE FROM outreach_attempts"))
        for model in WRITTEN:
            table = model.__tablename__
            if model is DecisionRow:
                session.execute(text(f"DELETE FROM {table}"))
                continue
            session.execute(text(f"DELETE FROM {table} WHERE id > :top"), {"top": tops[table]})
            if session.get_bind().dialect.name == "postgresql":
                session.execute(
                    text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :n, :called)"),
                    {"t": table, "n": max(tops[table], 1), "called": tops[table] > 0},
                )


def _one_by_one_decisions(batch: BatchDecision) -> list[Decision]:
    return [batch.decision(i) for i in range(len(batch.population))]


def _flags_from_rows(session: Session, *, messages: list[NewMessage], now: datetime) -> list[bool]:
    return [row is not None for row in enqueue_many(session, messages=messages, now=now)]


_copy_then_insert = db.copy_then_insert


def _staged(session: Session, **kwargs: Any) -> list[tuple[Any, ...]]:
    """The staged COPY for rows that are new (a clause that never fires, so not direct)."""
    if not kwargs["conflict"]:
        kwargs["conflict"] = "ON CONFLICT DO NOTHING"
    return _copy_then_insert(session, **kwargs)


def _night(rt: Runtime, tops: dict[str, int]) -> dict[str, Any]:
    updates: Counter[str] = Counter()

    def count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().startswith("UPDATE outreach_enrollments"):
            updates["statements"] += 1
        if statement.lstrip().startswith("SELECT consent_records."):
            updates["consent_reads"] += 1

    with rt.transaction() as session:
        ids = patient_ids(session)
    event.listen(rt.engine, "before_cursor_execute", count)
    try:
        counts = run_slice(rt, patient_ids=ids, now=NIGHT)
    finally:
        event.remove(rt.engine, "before_cursor_execute", count)
    with rt.transaction() as session:
        enrollments = [
            (e.id, e.patient_id, e.program, e.state, e.next_step, e.step_due_at, e.last_step_at,
             e.unanswered, e.escalated_at)
            for e in session.scalars(select(Enrollment).where(Enrollment.id > tops[
                Enrollment.__tablename__]).order_by(Enrollment.id))
        ]  # fmt: skip
        decisions = [
            (
                d.id,
                d.patient_id,
                d.program,
                d.send_at,
                d.channel,
                d.send_window,
                d.reading_level,
                d.tone,
                d.framing,
                d.language,
                d.propensity,
                d.factor_propensities,
                d.options,
                d.removals,
                d.features,
                d.explanation,
                d.explored,
                d.model_version,
            )
            for d in session.scalars(select(DecisionRow).order_by(DecisionRow.id))
        ]
        outbox = [
            (m.id, m.idempotency_key, m.enrollment_id, m.patient_id, m.step, m.channel,
             m.to_address, m.subject, m.body, m.html, m.language, m.due_at, m.recipient_kind,
             m.content_version_id, m.decision_id, m.extra)
            for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
        ]  # fmt: skip
        events = [
            (e.id, e.kind, e.patient_id, e.subject_id, e.payload)
            for e in session.scalars(
                select(Event).where(Event.id > tops["events"]).order_by(Event.id)
            )
        ]
    return {
        "counts": counts,
        "enrollments": enrollments,
        "decisions": decisions,
        "outbox": outbox,
        "events": events,
        "update_statements": updates["statements"],
        "consent_reads": updates["consent_reads"],
    }


def test_a_slice_with_its_steps_written_at_once_writes_what_one_by_one_writes(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _population(rt)
    with rt.transaction() as session:
        tops = _tops(session)
    _rewind(rt, tops)  # earlier tests may have drawn identifiers from the emptied tables
    monkeypatch.setattr(due_steps, "WRITE_STEPS_FROM", 10**9)  # the ORM's flush, one by one
    monkeypatch.setattr(lifecycle, "ROWS_FROM", 10**9)  # enrollments as ORM objects
    for memo in ("render", "with_names"):  # every message rendered with its own names
        monkeypatch.setattr(RenderMemo, memo, lambda self, group, fields, render: render(fields))
    # Each decision materialized alone, each outbox row read back whole.
    monkeypatch.setattr(step_messages, "all_decisions", _one_by_one_decisions)
    monkeypatch.setattr(step_messages, "enqueue_flags", _flags_from_rows)
    # Each batch reads its patients, consent and profiles itself; new rows staged by COPY
    # then inserted (a conflict clause that never fires forces the staging path).
    monkeypatch.setattr(nightly, "SliceReads", lambda: None)
    for module in (db, decision_log, events):
        monkeypatch.setattr(module, "copy_then_insert", _staged)
    one_by_one = _night(rt, tops)
    _rewind(rt, tops)
    monkeypatch.undo()
    batched = _night(rt, tops)

    moved = [e for e in batched["enrollments"] if e[4] > 0]
    assert len(moved) >= 5  # steps were sent, and enrollments moved on
    assert one_by_one["update_statements"] >= len(moved)
    assert batched["update_statements"] <= 2 * len({e[2] for e in moved})
    assert batched["counts"]["enqueued"] > 0
    for part in ("counts", "enrollments", "decisions", "outbox", "events"):
        assert batched[part] == one_by_one[part], part
    # Each patient's consent is read once per slice, by identification's opt-outs (a read
    # of the patients no earlier program read) and the steps alike.
    assert batched["consent_reads"] <= 4 < one_by_one["consent_reads"]


def test_reads_kept_across_batches_are_refused_for_a_tick_that_learns() -> None:
    """Learning rewrites profiles mid-tick: a learning tick keeping its reads would decide
    on stale preferences, so it is refused when it is built."""
    from careloop.clock import FrozenClock
    from careloop.outreach.audience import SliceReads
    from careloop.outreach.tick_context import TickContext

    with pytest.raises(ValueError, match="learns"):
        TickContext(
            clock=FrozenClock(NIGHT), programs=[], eligibility=lambda *a, **k: [],
            reads=SliceReads(),
        )  # fmt: skip
    assert TickContext(
        clock=FrozenClock(NIGHT), programs=[], eligibility=lambda *a, **k: [],
        reads=SliceReads(), learn=False,
    ).reads is not None  # fmt: skip
