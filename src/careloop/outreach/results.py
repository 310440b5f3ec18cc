"""Recording what a send did: outbox row, attempt, event and enrollment in one write."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    insert,
    select,
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
from careloop.models import Event, OutboxMessage
from careloop.outreach.budget import budget_patients, counts_as_contact
from careloop.outreach.claims import Claimed, mark_calling, still_held
from careloop.outreach.enrollment import mark_contacted_many
from careloop.outreach.results_sql import (
    ATTEMPT_KEY,
    ATTEMPT_RESULT_COLUMNS,
    ATTEMPTS,
    OUTBOX,
    OUTBOX_RESULT_COLUMNS,
    CallingMark,
    bulk_update,
    write_at_once,
)
from careloop.outreach.states import (
    AttemptOutcome,
    DeadReason,
    OutboxState,
)

ACTOR = "outreach-worker"

log = logging.getLogger("careloop.outreach.results")


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
    worker_id: str,
    now: datetime,
    backoff: Callable[[int], timedelta],
) -> BatchReport:
    """Write what happened with executemany updates; only rows still this worker's change
    (:func:`~careloop.outreach.claims.still_held`, read and locked in one statement for the
    whole group): a row whose lease ran out and that another worker took is left to it,
    attempt and all."""
    ids = [o.message.id for o in outcomes]
    held = set(
        session.scalars(
            select(OutboxMessage.id)
            .where(still_held(ids=ids, worker_id=worker_id))
            .with_for_update()
        )
        if ids
        else ()
    )
    rows = _result_rows(_ours(outcomes, held), now=now, backoff=backoff)
    if rows.updates:
        bulk_update(
            session,
            OUTBOX,
            key={"b_id": OUTBOX.c.id},
            columns=OUTBOX_RESULT_COLUMNS,
            rows=rows.updates,
            where=and_(
                OUTBOX.c.state == str(OutboxState.SENDING), OUTBOX.c.claimed_by == worker_id
            ),
            constants={"lease_until": None, "updated_at": now},
        )
        finish_attempts(session, rows.attempts, now)
    if rows.events:
        # The table, not the ORM entity: a core executemany, no per-row ORM bookkeeping.
        session.connection().execute(insert(cast(Table, Event.__table__)), rows.events)
    _follow_up(session, rows, now=now)
    return rows.report


def locks_budget(session: Session) -> bool:
    """Whether :func:`record_group` takes the contact-budget locks itself and marks the
    contacts (PostgreSQL: in its one statement, a round trip fewer per group than a
    statement of their own, and one row version of each message fewer)."""
    return session.get_bind().dialect.name == "postgresql"


def record_group(
    session: Session,
    *,
    outcomes: Sequence[Outcome],
    calling: Sequence[Claimed],
    worker_id: str,
    now: datetime,
    lease: timedelta,
    backoff: Callable[[int], timedelta],
) -> tuple[BatchReport, set[int]]:
    """Write ``outcomes`` and mark ``calling`` (:func:`~careloop.outreach.claims.mark_calling`);
    returns the report and the ids of ``calling`` still this worker's. On PostgreSQL one
    statement whose commit does not wait for the WAL flush (a killed worker loses nothing
    committed; only a database crash could lose the last fraction of a second of records,
    docs/outreach.md, "in doubt"), which also takes the contact-budget locks of the
    patients of ``calling`` (:func:`locks_budget`) for the count that follows and marks
    the contacts among them (``contact_at``) in the same update as their lease."""
    if locks_budget(session):
        patients = budget_patients((m.patient_id, m.recipient_kind, m.extra) for m in calling)
        contacts = [
            m.id
            for m in calling
            if counts_as_contact(recipient_kind=m.recipient_kind, extra=m.extra)
        ]
        mark = CallingMark([m.id for m in calling], worker_id, now + lease, patients, contacts)
        return record_and_mark_calling(
            session, outcomes=outcomes, calling=mark, now=now, backoff=backoff
        )
    report = record_outcomes(
        session, outcomes=outcomes, worker_id=worker_id, now=now, backoff=backoff
    )
    return report, mark_calling(
        session, messages=calling, worker_id=worker_id, now=now, lease=lease
    )


def record_and_mark_calling(
    session: Session,
    *,
    outcomes: Sequence[Outcome],
    calling: CallingMark,
    now: datetime,
    backoff: Callable[[int], timedelta],
) -> tuple[BatchReport, set[int]]:
    """PostgreSQL: :func:`record_outcomes` and :func:`~careloop.outreach.claims.mark_calling`
    as one statement (:func:`write_at_once`) that also turns the commit asynchronous
    (``synchronous_commit`` off for this transaction): the group transaction's first
    round trip does what four to six did. Returns the report and the ids still this
    worker's to send."""
    rows = _result_rows(outcomes, now=now, backoff=backoff)
    ours, written = write_at_once(
        session,
        updates=rows.updates,
        attempts=attempts_rows(rows.attempts),
        events=rows.events,
        calling=calling,
        now=now,
    )
    if len(written) < len(outcomes):  # rows lost to another worker: neither counted nor followed
        rows = _result_rows(_ours(outcomes, written), now=now, backoff=backoff)
    _follow_up(session, rows, now=now)
    return rows.report, ours


def _ours(outcomes: Sequence[Outcome], held: set[int]) -> list[Outcome]:
    """The outcomes of rows still this worker's; the others are their new owner's to record
    (it reconciles them with the gateway: nothing is sent twice)."""
    kept = [o for o in outcomes if o.message.id in held]
    if len(kept) < len(outcomes):
        log.warning(
            "%d results not written: their rows were taken by another worker after this "
            "one's lease ran out",
            len(outcomes) - len(kept),
        )
    return kept


@dataclass
class _Rows:
    report: BatchReport
    updates: list[dict[str, Any]]
    attempts: list[AttemptRow]
    events: list[dict[str, Any]]
    contacted: set[int]
    carrier_opt_outs: set[tuple[str, str]]


def _result_rows(
    outcomes: Sequence[Outcome], *, now: datetime, backoff: Callable[[int], timedelta]
) -> _Rows:
    """What each outcome writes: the outbox row, the attempt, the event."""
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
    return _Rows(report, updates, attempts, events, contacted, carrier_opt_outs)


def _follow_up(session: Session, rows: _Rows, *, now: datetime) -> None:
    """Enrollments contacted, and carrier opt-outs recorded as the patient's own."""
    if rows.contacted:
        mark_contacted_many(session, enrollment_ids=sorted(rows.contacted), now=now)
    if rows.carrier_opt_outs:
        # Imported here: the reply handling (content rendering, the audience, the decision
        # engine) is seconds of a worker's start-up that only a carrier opt-out needs.
        from careloop.outreach.replies import opt_out_patient
    for patient_id, channel in sorted(rows.carrier_opt_outs):
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


def _dead_reason(error: ChannelError) -> DeadReason:
    """What a final failure is called on the dead row: a setup problem by its name, so the
    operator fixes the setting instead of looking for a broken adapter."""
    if error.reason is FailureReason.MISCONFIGURED:
        return DeadReason.MISCONFIGURED
    return DeadReason.PERMANENT_FAILURE if error.permanent else DeadReason.MAX_ATTEMPTS


AttemptRow = tuple[Claimed, AttemptOutcome, str | None, datetime | None]


def attempts_rows(rows: Sequence[AttemptRow]) -> list[dict[str, Any]]:
    return [
        {
            "b_message": m.id,
            "b_number": m.attempt,
            "outcome": str(outcome),
            "error": error,
            "slot_at": slot,
        }
        for m, outcome, error, slot in rows
    ]


def finish_attempts(session: Session, rows: Sequence[AttemptRow], now: datetime) -> None:
    if not rows:
        return
    bulk_update(
        session,
        ATTEMPTS,
        key=ATTEMPT_KEY,
        columns=ATTEMPT_RESULT_COLUMNS,
        rows=attempts_rows(rows),
        where=ATTEMPTS.c.finished_at.is_(None),
        constants={"finished_at": now},
    )


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
    messages = list(messages)
    ids = [m.id for m in messages]
    released = set(
        session.scalars(
            update(OutboxMessage)
            .where(still_held(ids=ids, worker_id=worker_id))
            .values(
                state=str(OutboxState.QUEUED),
                next_attempt_at=at,
                attempts=OutboxMessage.attempts - 1,
                claimed_by=None,
                lease_until=None,
            )
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
    finish_attempts(
        session,
        [(m, AttemptOutcome.SKIPPED, "deferred", None) for m in messages if m.id in released],
        at,
    )
