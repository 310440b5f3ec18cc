"""The outbox worker: claim due messages, record the attempt, send, record the result.

Three short transactions per batch, never a provider call inside one:

1. **claim** — ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due rows (queued, failed-transient
   whose backoff has passed, or ``sending`` whose lease expired after a crash); they become
   ``sending`` with ``claimed_by``/``lease_until``, an attempt row is written; COMMIT.
2. **pace and re-check** — per sender, slots are reserved in the database (see
   :mod:`careloop.outreach.ratelimit`); right before the calls, consent and the enrollment
   are read again, so a STOP that arrived after scheduling wins.
3. **send, then record** — the adapter is called with the row's idempotency key; results are
   written with executemany updates in a new transaction.

A crash between 3's call and its record leaves the row ``sending``; when the lease expires
another worker re-claims it and calls the provider with the SAME key: providers (and fakes)
that honour idempotency keys do not send it twice.
"""

from __future__ import annotations

import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from careloop.channels.errors import ChannelError
from careloop.channels.messages import (
    ChannelKind,
    EmailParts,
    OutboundMessage,
    PortalParts,
    SendResult,
    VoiceParts,
)
from careloop.channels.registry import ChannelRegistry
from careloop.clock import Clock
from careloop.errors import InvalidInput
from careloop.events import EventKind
from careloop.governance.consent import consent_decisions
from careloop.models import Enrollment, Event, OutboxMessage, SendAttempt
from careloop.outreach.config import OutreachSettings
from careloop.outreach.enrollment import mark_contacted_many
from careloop.outreach.outbox import backoff_delay
from careloop.outreach.ratelimit import reserve_slots, sender_key
from careloop.outreach.states import (
    ACTIVE_ENROLLMENT_STATES,
    AttemptOutcome,
    DeadReason,
    EnrollmentState,
    OutboxState,
)
from careloop.runtime import Runtime

log = logging.getLogger("careloop.outreach.worker")
ACTOR = "outreach-worker"
CHUNK = 500
"""Most messages sent between two consent re-checks (and recorded in one transaction)."""
_OUTBOX = cast(Table, OutboxMessage.__table__)
_ATTEMPTS = cast(Table, SendAttempt.__table__)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A claimed row, copied out of the session so no ORM object outlives its transaction."""

    id: int
    attempt: int
    max_attempts: int
    idempotency_key: str
    patient_id: str
    purpose: str
    channel: str
    sender: str | None
    to_address: str
    subject: str | None
    body: str
    html: str | None
    language: str
    extra: dict[str, Any]
    enrollment_id: int | None
    program: str | None
    step: str | None
    decision_id: str | None
    recipient_kind: str


@dataclass(frozen=True, slots=True)
class Outcome:
    message: Claimed
    result: SendResult | None = None
    error: ChannelError | None = None
    dead: DeadReason | None = None
    slot_at: datetime | None = None


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    dead: int = 0
    deferred: int = 0

    def add(self, other: BatchReport) -> None:
        for name in ("claimed", "sent", "retried", "dead", "deferred"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


UnsubscribeLink = Callable[[Claimed, datetime], str]


@dataclass
class Worker:
    """One worker process (or thread). ``sleep`` and ``clock`` are injected for tests."""

    runtime: Runtime
    channels: ChannelRegistry
    settings: OutreachSettings
    worker_id: str
    public_base_url: str
    unsubscribe_link: UnsubscribeLink
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def run_once(self, *, batch: int | None = None) -> BatchReport:
        """Claim one batch and see it through; an empty report when nothing is due."""
        size = batch or self.settings.worker.batch
        with self.runtime.transaction() as session:
            claimed = claim_due(
                session,
                worker_id=self.worker_id,
                now=self.clock.now(),
                limit=size,
                lease=timedelta(seconds=self.settings.worker.lease_seconds),
            )
        report = BatchReport(claimed=len(claimed))
        if not claimed:
            return report
        by_sender: dict[str, list[Claimed]] = defaultdict(list)
        for message in claimed:
            by_sender[sender_key(message.channel, message.sender)].append(message)
        planned = self._plan(by_sender, report)
        # Interleave senders by slot, so a paced sender never holds up the others.
        planned.sort(key=lambda p: (p[0] is not None, p[0] or datetime.min.replace(tzinfo=UTC)))
        for part in chunks(planned, span=timedelta(seconds=1), size=CHUNK):
            outcomes = self._send_chunk([m for _, m in part], slots=[s for s, _ in part])
            report.add(self._record(outcomes))
        return report

    def _plan(
        self, by_sender: dict[str, list[Claimed]], report: BatchReport
    ) -> list[tuple[datetime | None, Claimed]]:
        """Reserve send slots for paced senders (one transaction, rows locked in key order so
        workers never deadlock); rows that get no slot within the lease go back to the queue."""
        planned: list[tuple[datetime | None, Claimed]] = []
        paced: dict[str, float] = {}
        for key, messages in by_sender.items():
            rate = self._rate(key, messages[0].channel, messages[0].sender)
            if rate is None:
                planned.extend((None, m) for m in messages)
            else:
                paced[key] = rate
        if not paced:
            return planned
        returned: list[tuple[list[Claimed], datetime]] = []
        with self.runtime.transaction() as session:
            # Slots start a little ahead so the consent re-check before the first send
            # cannot make it late (late sends bunch up against on-time ones).
            start = self.clock.now() + timedelta(milliseconds=self.settings.worker.slot_lead_ms)
            for key in sorted(paced):
                messages = by_sender[key]
                reservation = reserve_slots(
                    session,
                    key=key,
                    count=len(messages),
                    interval=self._interval(paced[key]),
                    now=start,
                    horizon=timedelta(seconds=self.settings.worker.lease_seconds / 2),
                )
                reserved = len(reservation.slots)
                planned.extend(zip(reservation.slots, messages[:reserved], strict=True))
                if reserved < len(messages):
                    returned.append((messages[reserved:], reservation.next_free))
        if returned:
            with self.runtime.transaction() as session:
                for messages, at in returned:
                    report.deferred += len(messages)
                    release(session, messages=messages, at=at)
        return planned

    def run(
        self,
        *,
        batch: int | None = None,
        stop: Callable[[], bool] = lambda: False,
        once: bool = False,
    ) -> BatchReport:
        """Loop until ``stop()`` (or, with ``once``, until nothing is due)."""
        total = BatchReport()
        pause = self.settings.worker.poll_seconds
        while not stop():
            try:
                report = self.run_once(batch=batch)
            except OperationalError:
                # The database went away (restart, failover). Nothing is lost: claimed rows
                # stay ``sending`` until their lease expires and are then re-claimed with
                # the same idempotency keys. Wait, then reconnect (pool pre-ping).
                log.warning("database unavailable; worker retrying in %.0f s", pause)
                self.sleep(pause)
                pause = min(pause * 2, 30.0)
                continue
            pause = self.settings.worker.poll_seconds
            total.add(report)
            if report.claimed == 0:
                if once:
                    break
                self.sleep(self.settings.worker.poll_seconds)
        return total

    def _rate(self, key: str, channel: str, sender: str | None) -> float | None:
        configured = self.settings.sender_rates.get(key)
        if configured:
            return configured
        try:
            limit = self.channels.rate_limit(ChannelKind(channel), sender)
        except InvalidInput:
            return None
        return limit.messages_per_second if limit else None

    def _send_chunk(
        self, messages: Sequence[Claimed], *, slots: Sequence[datetime | None]
    ) -> list[Outcome]:
        with self.runtime.transaction() as session:
            refused = refused_now(session, messages=messages, now=self.clock.now())
        outcomes: list[Outcome] = []
        for message, slot in zip(messages, slots, strict=True):
            if message.id in refused:
                outcomes.append(Outcome(message, dead=refused[message.id], slot_at=slot))
                continue
            if slot is not None:
                slot = self._await_slot(message, slot)
                if slot is None:
                    continue  # no slot left within the lease: handed back to the queue
            outcomes.append(self._call(message, slot))
        return outcomes

    def _await_slot(self, message: Claimed, slot: datetime) -> datetime | None:
        """Sleep until ``slot``; if this process woke too late (descheduled, slow re-check),
        the missed slot is abandoned and a fresh one reserved, so late sends never burst."""
        tolerance = timedelta(milliseconds=self.settings.worker.late_tolerance_ms)
        now = self.clock.now()
        if now > slot + tolerance:
            key = sender_key(message.channel, message.sender)
            rate = self._rate(key, message.channel, message.sender) or 1.0
            with self.runtime.transaction() as session:
                reservation = reserve_slots(
                    session,
                    key=key,
                    count=1,
                    interval=self._interval(rate),
                    now=now,
                    horizon=timedelta(seconds=self.settings.worker.lease_seconds / 2),
                )
                if not reservation.slots:
                    release(session, messages=[message], at=reservation.next_free)
                    return None
            slot = reservation.slots[0]
        wait = (slot - self.clock.now()).total_seconds()
        if wait > 0:
            self.sleep(wait)
        return slot

    def _interval(self, rate: float) -> timedelta:
        return timedelta(seconds=1.0 / (rate * (1 - self.settings.worker.pace_margin)))

    def _call(self, message: Claimed, slot: datetime | None) -> Outcome:
        try:
            outbound = self.outbound(message)
            result = self.channels.send(outbound)
        except ChannelError as exc:
            return Outcome(message, error=exc, slot_at=slot)
        except InvalidInput:
            return Outcome(message, dead=DeadReason.NO_ADAPTER, slot_at=slot)
        return Outcome(message, result=result, slot_at=slot)

    def outbound(self, message: Claimed) -> OutboundMessage:
        """The channel's view of a row: addresses, text, and the parts each channel needs."""
        channel = ChannelKind(message.channel)
        base = self.public_base_url.rstrip("/")
        email = voice = portal = None
        callback = None
        if channel is ChannelKind.EMAIL:
            email = EmailParts(
                subject=message.subject or "",
                html=message.html,
                unsubscribe_url=self.unsubscribe_link(message, self.clock.now()),
            )
        elif channel is ChannelKind.VOICE:
            voice = VoiceParts(
                voicemail_text=str(message.extra.get("voicemail_text") or ""),
                gather_action_url=f"{base}/webhooks/twilio/voice/gather?m={message.id}",
            )
            callback = f"{base}/webhooks/twilio/status?m={message.id}&kind=call"
        elif channel is ChannelKind.PORTAL:
            portal = PortalParts(title=message.subject or "Message from your care team")
        else:
            callback = f"{base}/webhooks/twilio/status?m={message.id}"
        return OutboundMessage(
            channel=channel,
            to=message.to_address,
            body=message.body,
            idempotency_key=message.idempotency_key,
            sender=message.sender,
            status_callback_url=callback,
            language=message.language,
            email=email,
            voice=voice,
            portal=portal,
        )

    def _record(self, outcomes: list[Outcome]) -> BatchReport:
        with self.runtime.transaction() as session:
            return record_outcomes(
                session,
                outcomes=outcomes,
                now=self.clock.now(),
                backoff=lambda n: backoff_delay(
                    attempt=n,
                    base=self.settings.worker.backoff_base_seconds,
                    cap=self.settings.worker.backoff_cap_seconds,
                    rng=self.rng,
                ),
            )


def chunks(
    planned: Sequence[tuple[datetime | None, Claimed]], *, span: timedelta, size: int
) -> Iterable[Sequence[tuple[datetime | None, Claimed]]]:
    """Consecutive runs of at most ``size`` whose slots fall within ``span`` of the first."""
    part: list[tuple[datetime | None, Claimed]] = []
    first: datetime | None = None
    for slot, message in planned:
        fits = not part or (
            len(part) < size and (slot is None or (first is not None and slot - first < span))
        )
        if not fits:
            yield part
            part = []
        if not part:
            first = slot
        part.append((slot, message))
    if part:
        yield part


def claim_due(
    session: Session, *, worker_id: str, now: datetime, limit: int, lease: timedelta
) -> list[Claimed]:
    """Claim up to ``limit`` due rows and write their attempts; the caller commits at once."""
    due = or_(
        and_(
            OutboxMessage.state.in_([str(OutboxState.QUEUED), str(OutboxState.FAILED_TRANSIENT)]),
            OutboxMessage.next_attempt_at <= now,
        ),
        and_(OutboxMessage.state == str(OutboxState.SENDING), OutboxMessage.lease_until < now),
    )
    ids = list(
        session.scalars(
            select(OutboxMessage.id)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    rows = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids))
        .values(
            state=str(OutboxState.SENDING),
            claimed_by=worker_id,
            lease_until=now + lease,
            attempts=OutboxMessage.attempts + 1,
            updated_at=now,
        )
        .returning(
            OutboxMessage.id,
            OutboxMessage.attempts,
            OutboxMessage.max_attempts,
            OutboxMessage.idempotency_key,
            OutboxMessage.patient_id,
            OutboxMessage.purpose,
            OutboxMessage.channel,
            OutboxMessage.sender,
            OutboxMessage.to_address,
            OutboxMessage.subject,
            OutboxMessage.body,
            OutboxMessage.html,
            OutboxMessage.language,
            OutboxMessage.extra,
            OutboxMessage.enrollment_id,
            OutboxMessage.program,
            OutboxMessage.step,
            OutboxMessage.decision_id,
            OutboxMessage.recipient_kind,
        )
        .execution_options(synchronize_session=False)
    ).all()
    claimed = sorted((Claimed(*row) for row in rows), key=lambda c: c.id)
    session.execute(
        insert(SendAttempt),
        [
            {
                "message_id": c.id,
                "number": c.attempt,
                "worker": worker_id,
                "started_at": now,
                "outcome": str(AttemptOutcome.STARTED),
            }
            for c in claimed
        ],
    )
    return claimed


def release(session: Session, *, messages: Iterable[Claimed], at: datetime) -> None:
    """Hand rows back unsent (no slot free within the lease): not an attempt."""
    ids = [m.id for m in messages]
    session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.state == str(OutboxState.SENDING))
        .values(
            state=str(OutboxState.QUEUED),
            next_attempt_at=at,
            attempts=OutboxMessage.attempts - 1,
            claimed_by=None,
            lease_until=None,
        )
        .execution_options(synchronize_session=False)
    )
    _finish_attempts(session, [(m, AttemptOutcome.SKIPPED, "deferred", None) for m in messages], at)


def refused_now(
    session: Session, *, messages: Sequence[Claimed], now: datetime
) -> dict[int, DeadReason]:
    """Messages that may no longer go: consent withdrawn (STOP) or the enrollment ended."""
    refused: dict[int, DeadReason] = {}
    enrollment_ids = {m.enrollment_id for m in messages if m.enrollment_id is not None}
    states: dict[int, str] = {}
    if enrollment_ids:
        states = dict(
            session.execute(  # type: ignore[arg-type]
                select(Enrollment.id, Enrollment.state).where(Enrollment.id.in_(enrollment_ids))
            ).all()
        )
    groups: dict[tuple[str, str], list[Claimed]] = defaultdict(list)
    for message in messages:
        state = states.get(message.enrollment_id) if message.enrollment_id else None
        if message.extra.get("transactional"):
            continue  # a STOP/HELP confirmation answers the patient's own message
        if state == EnrollmentState.OPTED_OUT:
            refused[message.id] = DeadReason.OPTED_OUT
        elif state is not None and EnrollmentState(state) not in ACTIVE_ENROLLMENT_STATES:
            refused[message.id] = DeadReason.ENROLLMENT_ENDED
        else:
            groups[(message.purpose, message.channel)].append(message)
    for (purpose, channel), group in groups.items():
        decisions = consent_decisions(
            session,
            patient_ids=[m.patient_id for m in group],
            purpose=purpose,
            channel=channel,
            now=now,
        )
        for message in group:
            if not decisions[message.patient_id].allowed:
                refused[message.id] = DeadReason.CONSENT_WITHDRAWN
    return refused


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
            attempts.append((m, AttemptOutcome.ACCEPTED, None, outcome.slot_at))
            events.append(
                _event(m, EventKind.SENT, now, {"provider_status": str(outcome.result.status)})
            )
            if m.enrollment_id is not None and m.recipient_kind == "patient":
                contacted.add(m.enrollment_id)
            report.sent += 1
        elif outcome.dead is not None:
            row.update(state=str(OutboxState.DEAD), dead_reason=str(outcome.dead))
            attempts.append((m, AttemptOutcome.SKIPPED, str(outcome.dead), outcome.slot_at))
            events.append(
                _event(m, EventKind.FAILED, now, {"reason": str(outcome.dead), "final": True})
            )
            report.dead += 1
        else:
            error = outcome.error
            assert error is not None
            reason = str(error.reason)
            final = error.permanent or m.attempt >= m.max_attempts
            if final:
                dead = DeadReason.PERMANENT_FAILURE if error.permanent else DeadReason.MAX_ATTEMPTS
                row.update(state=str(OutboxState.DEAD), dead_reason=str(dead), last_error=reason)
                report.dead += 1
            else:
                row.update(
                    state=str(OutboxState.FAILED_TRANSIENT),
                    last_error=reason,
                    next_attempt_at=now + backoff(m.attempt),
                )
                report.retried += 1
            kind = AttemptOutcome.PERMANENT if error.permanent else AttemptOutcome.TRANSIENT
            attempts.append((m, kind, reason, outcome.slot_at))
            events.append(_event(m, EventKind.FAILED, now, {"reason": reason, "final": final}))
        updates.append(row)
    if updates:
        bulk_update(
            session,
            _OUTBOX,
            key={"b_id": _OUTBOX.c.id},
            columns=[
                "state",
                "sent_at",
                "provider_id",
                "last_error",
                "dead_reason",
                "next_attempt_at",
            ],
            rows=updates,
            where=_OUTBOX.c.state == str(OutboxState.SENDING),
            constants={"lease_until": None, "updated_at": now},
        )
        _finish_attempts(session, attempts, now)
    if events:
        session.execute(insert(Event), events)
    if contacted:
        mark_contacted_many(session, enrollment_ids=sorted(contacted), now=now)
    return report


def _finish_attempts(
    session: Session,
    rows: Sequence[tuple[Claimed, AttemptOutcome, str | None, datetime | None]],
    now: datetime,
) -> None:
    if not rows:
        return
    bulk_update(
        session,
        _ATTEMPTS,
        key={"b_message": _ATTEMPTS.c.message_id, "b_number": _ATTEMPTS.c.number},
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
        where=_ATTEMPTS.c.finished_at.is_(None),
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
    if session.get_bind().dialect.name != "postgresql":
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


def _event(m: Claimed, kind: EventKind, now: datetime, extra: dict[str, Any]) -> dict[str, Any]:
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
