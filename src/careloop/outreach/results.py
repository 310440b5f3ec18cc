"""Recording what a send did: outbox row, attempt, event and enrollment in one write."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    insert,
    text,
    update,
)
from sqlalchemy.orm import Session

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import (
    SendResult,
)
from careloop.clock import FrozenClock
from careloop.events import EventKind
from careloop.governance.consent import ConsentSource
from careloop.models import Event, OutboxMessage, SendAttempt
from careloop.outreach.claims import Claimed, still_held
from careloop.outreach.enrollment import mark_contacted_many
from careloop.outreach.replies import opt_out_patient
from careloop.outreach.states import (
    AttemptOutcome,
    DeadReason,
    OutboxState,
)

ACTOR = "outreach-worker"
OUTBOX = cast(Table, OutboxMessage.__table__)
ATTEMPTS = cast(Table, SendAttempt.__table__)


@dataclass(frozen=True, slots=True)
class Outcome:
    message: Claimed
    result: SendResult | None = None
    error: ChannelError | None = None
    dead: DeadReason | None = None
    slot_at: datetime | None = None
    reconciled: bool = False
    """``result`` is the gateway's record of an earlier, unrecorded send (nothing re-sent)."""
    in_doubt: bool = False
    """Maybe sent earlier and the gateway cannot tell: held for review, never re-sent."""


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0
    reconciled: int = 0
    in_doubt: int = 0

    def add(self, other: BatchReport) -> None:
        for counter in fields(self):
            total = getattr(self, counter.name) + getattr(other, counter.name)
            setattr(self, counter.name, total)

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def record_outcomes(
    session: Session,
    *,
    outcomes: Sequence[Outcome],
    now: datetime,
    backoff: Callable[[int], timedelta],
) -> BatchReport:
    """Write what happened, with executemany updates; only rows still ``sending`` change."""
    report = BatchReport()
    updates: list[dict[str, Any]] = []
    attempts: list[tuple[Claimed, AttemptOutcome, str | None, datetime | None]] = []
    events: list[dict[str, Any]] = []
    contacted: set[int] = set()
    carrier_opt_outs: set[tuple[str, str]] = set()
    for outcome in outcomes:
        m = outcome.message
        row: dict[str, Any] = {
            "b_id": m.id,
            "sent_at": None,
            "provider_id": None,
            "last_error": None,
            "dead_reason": None,
            "next_attempt_at": now,
        }
        if outcome.result is not None:
            row.update(
                state=str(OutboxState.SENT), sent_at=now, provider_id=outcome.result.provider_id
            )
            accepted = AttemptOutcome.RECONCILED if outcome.reconciled else AttemptOutcome.ACCEPTED
            attempts.append((m, accepted, None, outcome.slot_at))
            payload: dict[str, Any] = {"provider_status": str(outcome.result.status)}
            if outcome.reconciled:
                payload["reconciled"] = True
            events.append(event_row(m, EventKind.SENT, now, payload))
            if m.enrollment_id is not None and m.recipient_kind == "patient":
                contacted.add(m.enrollment_id)
            report.sent += 1
            report.reconciled += int(outcome.reconciled)
        elif outcome.in_doubt:
            row.update(state=str(OutboxState.IN_DOUBT), last_error="in-doubt")
            attempts.append((m, AttemptOutcome.IN_DOUBT, "unreconciled", outcome.slot_at))
            events.append(
                event_row(m, EventKind.FAILED, now, {"reason": "in-doubt", "final": False})
            )
            report.in_doubt += 1
        elif outcome.dead is not None:
            row.update(state=str(OutboxState.DEAD), dead_reason=str(outcome.dead))
            attempts.append((m, AttemptOutcome.SKIPPED, str(outcome.dead), outcome.slot_at))
            events.append(
                event_row(m, EventKind.FAILED, now, {"reason": str(outcome.dead), "final": True})
            )
            report.dead += 1
        else:
            error = outcome.error
            assert error is not None
            reason = str(error.reason)
            final = error.permanent or m.attempt >= m.max_attempts
            if final:
                dead = _dead_reason(error)
                row.update(state=str(OutboxState.DEAD), dead_reason=str(dead), last_error=reason)
                report.dead += 1
            else:
                row.update(
                    state=str(OutboxState.FAILED_TRANSIENT),
                    last_error=reason,
                    next_attempt_at=now + backoff(m.attempt),
                )
                report.retried += 1
            if error.reason is FailureReason.UNSUBSCRIBED and m.recipient_kind == "patient":
                carrier_opt_outs.add((m.patient_id, m.channel))
            kind = AttemptOutcome.PERMANENT if error.permanent else AttemptOutcome.TRANSIENT
            attempts.append((m, kind, reason, outcome.slot_at))
            failed: dict[str, Any] = {"reason": reason, "final": final}
            if error.detail:  # adapters' details name settings and codes, never patient data
                failed["detail"] = error.detail
            events.append(event_row(m, EventKind.FAILED, now, failed))
        updates.append(row)
    if updates:
        bulk_update(
            session,
            OUTBOX,
            key={"b_id": OUTBOX.c.id},
            columns=[
                "state",
                "sent_at",
                "provider_id",
                "last_error",
                "dead_reason",
                "next_attempt_at",
            ],
            rows=updates,
            where=OUTBOX.c.state == str(OutboxState.SENDING),
            constants={"lease_until": None, "updated_at": now},
        )
        finish_attempts(session, attempts, now)
    if events:
        # The table, not the ORM entity: a core executemany, no per-row ORM bookkeeping.
        session.connection().execute(insert(cast(Table, Event.__table__)), events)
    if contacted:
        mark_contacted_many(session, enrollment_ids=sorted(contacted), now=now)
    for patient_id, channel in sorted(carrier_opt_outs):
        # The number opted out at the carrier (Twilio 21610): record it as ours, so nothing
        # else is queued and the care team sees why.
        opt_out_patient(
            session,
            clock=FrozenClock(now),
            patient_id=patient_id,
            channel=channel,
            now=now,
            source=str(ConsentSource.CARRIER),
        )
    return report


def _dead_reason(error: ChannelError) -> DeadReason:
    """What a final failure is called on the dead row: a setup problem by its name, so the
    operator fixes the setting instead of looking for a broken adapter."""
    if error.reason is FailureReason.MISCONFIGURED:
        return DeadReason.MISCONFIGURED
    return DeadReason.PERMANENT_FAILURE if error.permanent else DeadReason.MAX_ATTEMPTS


def finish_attempts(
    session: Session,
    rows: Sequence[tuple[Claimed, AttemptOutcome, str | None, datetime | None]],
    now: datetime,
) -> None:
    if not rows:
        return
    bulk_update(
        session,
        ATTEMPTS,
        key={"b_message": ATTEMPTS.c.message_id, "b_number": ATTEMPTS.c.number},
        columns=["outcome", "error", "slot_at"],
        rows=[
            {
                "b_message": m.id,
                "b_number": m.attempt,
                "outcome": str(outcome),
                "error": error,
                "slot_at": slot,
            }
            for m, outcome, error, slot in rows
        ],
        where=ATTEMPTS.c.finished_at.is_(None),
        constants={"finished_at": now},
    )


def bulk_update(
    session: Session,
    table: Table,
    *,
    key: dict[str, Any],
    columns: list[str],
    rows: list[dict[str, Any]],
    where: Any,
    constants: dict[str, Any],
) -> None:
    """Update many rows with different values: one ``UPDATE ... FROM unnest(...)`` on
    PostgreSQL (one round trip for a whole batch), executemany elsewhere.

    ``key`` maps parameter names to the columns that find a row; ``where`` must hold too
    (e.g. the row is still ``sending``); ``constants`` are set on every row.
    """
    if not rows:
        return
    if len(rows) == 1 or session.get_bind().dialect.name != "postgresql":
        stmt = (
            table.update()
            .where(*(col == bindparam(name) for name, col in key.items()), where)
            .values({**{c: bindparam(c) for c in columns}, **constants})
        )
        session.connection().execute(stmt, rows)
        return
    # unnest() of one array per column: a handful of parameters whatever the batch size,
    # so the statement compiles once and runs as one round trip.
    names = [*key, *columns]
    targets = {**{n: c.name for n, c in key.items()}, **{c: c for c in columns}}
    dialect = session.get_bind().dialect
    sql_types = {n: table.c[targets[n]].type.compile(dialect=dialect) for n in names}
    params: dict[str, Any] = {
        f"a_{n}": [_bound(table.c[targets[n]].type, row[n], dialect) for row in rows] for n in names
    }
    arrays = ", ".join(f"CAST(:a_{n} AS {sql_types[n]}[])" for n in names)
    assignments = [f"{c} = v.{c}" for c in columns]
    assignments += [f"{c} = :c_{c}" for c in constants]
    params.update({f"c_{c}": _bound(table.c[c].type, v, dialect) for c, v in constants.items()})
    matches = " AND ".join(f"t.{targets[n]} = v.{n}" for n in key)
    condition = where.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    statement = (
        f"UPDATE {table.name} AS t SET {', '.join(assignments)} "
        f"FROM unnest({arrays}) AS v({', '.join(names)}) "
        f"WHERE {matches} AND {str(condition).replace(table.name + '.', 't.')}"
    )
    session.execute(text(statement), params)


def _bound(type_: Any, value: Any, dialect: Any) -> Any:
    process = type_.bind_processor(dialect)
    return process(value) if process is not None else value


def event_row(m: Claimed, kind: EventKind, now: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": str(kind),
        "patient_id": m.patient_id,
        "occurred_at": now,
        "recorded_at": now,
        "actor": ACTOR,
        "subject_type": "outbox_message",
        "subject_id": str(m.id),
        "program": m.program,
        "payload": {
            "channel": m.channel,
            "step": m.step,
            "enrollment_id": m.enrollment_id,
            "decision_id": m.decision_id,
            "recipient": m.recipient_kind,
            "attempt": m.attempt,
            **extra,
        },
    }


def release(session: Session, *, messages: Iterable[Claimed], at: datetime, worker_id: str) -> None:
    """Hand rows back unsent (no slot free within the lease): not an attempt. Only rows
    still this worker's: one whose lease ran out may be another worker's by now, and
    queueing it again under that worker's send would send it twice."""
    ids = [m.id for m in messages]
    session.execute(
        update(OutboxMessage)
        .where(still_held(ids=ids, worker_id=worker_id))
        .values(
            state=str(OutboxState.QUEUED),
            next_attempt_at=at,
            attempts=OutboxMessage.attempts - 1,
            claimed_by=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    finish_attempts(session, [(m, AttemptOutcome.SKIPPED, "deferred", None) for m in messages], at)
