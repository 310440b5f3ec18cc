"""Claiming due outbox rows, handing them back, and the last check before a send."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Table,
    and_,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from careloop.channels.errors import FailureReason
from careloop.db import any_of
from careloop.governance.consent import consent_decisions
from careloop.governance.number_opt_outs import canonical_number, latest_grants, stops_of
from careloop.models import AccessOffer, Enrollment, OutboxMessage, SendAttempt
from careloop.outreach.results_sql import insert_rows
from careloop.outreach.sender_leases import Capacity, lease_senders, sender_key_of_row
from careloop.outreach.states import (
    ACTIVE_ENROLLMENT_STATES,
    AttemptOutcome,
    DeadReason,
    EnrollmentState,
    OutboxState,
)
from careloop.outreach.textable_now import untextable_now
from careloop.outreach.worker_presence import Adopt, adopted


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
    in_doubt_since: datetime | None = None
    """Set when an earlier attempt may have reached the provider unrecorded (a crash while
    ``calling``, or a timeout): the gateway is asked before this message is sent again."""


def claim_due(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    capacity: Capacity | None = None,
    adopt: Adopt | None = None,
) -> list[Claimed]:
    """Claim up to ``limit`` due rows and write their attempts; the caller commits at once.

    With ``capacity`` (what each sender can take in half a lease), only rows of senders this
    worker leases now, or of unpaced senders (:mod:`careloop.outreach.sender_leases`).
    ``adopt``: dead workers (:mod:`careloop.outreach.worker_presence`) whose ``sending`` rows
    and sender leases are taken as if their leases had run out."""
    sending = OutboxMessage.state == str(OutboxState.SENDING)
    lost = OutboxMessage.lease_until < now
    if adopt:
        lost = or_(
            lost,
            adopted(OutboxMessage.claimed_by, OutboxMessage.lease_until, adopt=adopt, lease=lease),
        )
    due = or_(
        and_(
            OutboxMessage.state.in_([str(OutboxState.QUEUED), str(OutboxState.FAILED_TRANSIENT)]),
            OutboxMessage.next_attempt_at <= now,
        ),
        and_(sending, lost),
    )
    query = select(OutboxMessage.id).where(due)
    if capacity is not None:
        keys = lease_senders(
            session,
            due=due,
            worker_id=worker_id,
            now=now,
            limit=limit,
            lease=lease,
            capacity=capacity,
            adopt=adopt,
        )
        if not keys:
            return []
        query = query.where(sender_key_of_row().in_(keys))
    ids = list(
        session.scalars(
            query.order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not ids:
        return []
    rows = session.execute(
        update(OutboxMessage)
        .where(any_of(session, OutboxMessage.id, ids))
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
    doubts = _settle_abandoned_attempts(session, ids=ids, now=now)
    claimed = [replace(c, in_doubt_since=doubts.get(c.id)) for c in claimed]
    insert_rows(  # no per-row ORM bookkeeping
        session,
        cast(Table, SendAttempt.__table__),
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


def _settle_abandoned_attempts(
    session: Session, *, ids: Sequence[int], now: datetime
) -> dict[int, datetime]:
    """Close the attempts a crashed worker left open and say which messages are in doubt.

    ``started`` (claimed, never called) is simply abandoned; ``calling`` (the provider may
    have it) becomes ``in-doubt``. A message is in doubt, since its earliest such attempt,
    while any attempt of it is ``in-doubt`` or timed out (the provider may have it too).
    """
    unfinished = and_(
        any_of(session, SendAttempt.message_id, ids), SendAttempt.finished_at.is_(None)
    )
    session.execute(
        update(SendAttempt)
        .where(unfinished, SendAttempt.outcome == str(AttemptOutcome.CALLING))
        .values(outcome=str(AttemptOutcome.IN_DOUBT), error="worker-lost", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(SendAttempt)
        .where(unfinished)
        .values(outcome=str(AttemptOutcome.SKIPPED), error="lease-expired", finished_at=now)
        .execution_options(synchronize_session=False)
    )
    doubtful = or_(
        SendAttempt.outcome == str(AttemptOutcome.IN_DOUBT),
        and_(
            SendAttempt.outcome == str(AttemptOutcome.TRANSIENT),
            SendAttempt.error == str(FailureReason.TIMEOUT),
        ),
    )
    rows = session.execute(
        select(SendAttempt.message_id, func.min(SendAttempt.started_at))
        .where(any_of(session, SendAttempt.message_id, ids), doubtful)
        .group_by(SendAttempt.message_id)
    ).all()
    return {int(row[0]): row[1] for row in rows}


def mark_calling(
    session: Session,
    *,
    messages: Sequence[Claimed],
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> set[int]:
    """The provider is about to be called for ``messages``: committed first, so a crash from
    here on leaves them (and only them) in doubt. Renews this worker's lease on each row and
    returns the ids still this worker's; a row whose lease ran out and that another worker
    took is left out, and must not be sent. (On PostgreSQL the worker's group commit makes
    this mark in its one statement, :func:`careloop.outreach.results_sql.write_at_once`.)"""
    ours = renew_lease(
        session, ids=[m.id for m in messages], worker_id=worker_id, now=now, lease=lease
    )
    if ours:
        session.execute(
            update(SendAttempt)
            .where(SendAttempt.message_id.in_(ours), SendAttempt.finished_at.is_(None))
            .values(outcome=str(AttemptOutcome.CALLING))
            .execution_options(synchronize_session=False)
        )
    return ours


def still_held(*, ids: Sequence[int], worker_id: str) -> ColumnElement[bool]:
    """The rows of ``ids`` this worker is still sending: a row whose lease ran out may be
    another worker's by now, and must be neither renewed nor handed back by this one."""
    return and_(
        OutboxMessage.id.in_(ids),
        OutboxMessage.state == str(OutboxState.SENDING),
        OutboxMessage.claimed_by == worker_id,
    )


def renew_lease(
    session: Session,
    *,
    ids: Sequence[int],
    worker_id: str,
    now: datetime,
    lease: timedelta,
) -> set[int]:
    """Extend this worker's lease on rows it is still sending (marked ``calling`` a group
    at a time); returns the ids still its own. A row another worker took after the lease
    ran out is left out and must not be sent."""
    if not ids:
        return set()
    return set(
        session.scalars(
            update(OutboxMessage)
            .where(still_held(ids=ids, worker_id=worker_id))
            .values(lease_until=now + lease)
            .returning(OutboxMessage.id)
            .execution_options(synchronize_session=False)
        )
    )


def recorded_provider_ids(session: Session, provider_ids: Sequence[str]) -> set[str]:
    """Which of the provider's ids already belong to a recorded message (so are not the one
    a reconciliation is looking for)."""
    return set(
        session.scalars(
            select(OutboxMessage.provider_id).where(OutboxMessage.provider_id.in_(provider_ids))
        )
    )


def refused_now(
    session: Session, *, messages: Sequence[Claimed], now: datetime
) -> dict[int, DeadReason]:
    """Messages that may no longer go: consent withdrawn (STOP), the enrollment ended, or the
    visit times they offer were answered, replaced or expired."""
    refused: dict[int, DeadReason] = dict.fromkeys(
        closed_offer_messages(session, [m.id for m in messages], now=now),
        DeadReason.OFFER_CLOSED,
    )
    enrollment_ids = {m.enrollment_id for m in messages if m.enrollment_id is not None}
    states: dict[int, str] = {}
    if enrollment_ids:
        states = dict(
            session.execute(  # type: ignore[arg-type]
                select(Enrollment.id, Enrollment.state).where(
                    any_of(session, Enrollment.id, enrollment_ids)
                )
            ).all()
        )
    groups: dict[tuple[str, str], list[Claimed]] = defaultdict(list)
    for message in messages:
        state = states.get(message.enrollment_id) if message.enrollment_id else None
        if message.extra.get("transactional") or message.id in refused:
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
    refused.update(
        (i, DeadReason.NUMBER_OPTED_OUT) for i in to_stopped_numbers(session, messages, refused)
    )
    calls = {m.id for m in messages if m.channel == "voice"}
    refused.update(
        (i, DeadReason.NUMBER_GONE if i in calls else DeadReason.NOT_TEXTABLE)
        for i in untextable_now(session, messages, skip=refused)
    )
    return refused


def to_stopped_numbers(
    session: Session, messages: Sequence[Claimed], refused: Mapping[int, DeadReason]
) -> list[int]:
    """Texts and calls to a number that replied STOP as a caregiver's, whoever they are for
    (a number that is a patient's own too: everything to it stops). One query a chunk."""
    phoned = [
        m
        for m in messages
        if (
            m.channel in ("sms", "voice")
            or (m.channel == "email" and m.recipient_kind == "caregiver")
        )
        and m.id not in refused
        and not m.extra.get("transactional")
    ]
    if not phoned:
        return []
    # Queued before numbers were stored in E.164, a row is compared in that form.
    number = {
        m.id: m.to_address if m.to_address.startswith("+") else canonical_number(m.to_address)
        for m in phoned
    }
    stops = stops_of(session, set(number.values()))
    if not stops:
        return []
    # The patient's own message follows the patient's latest word: a consent granted after the
    # number's STOP (START, the portal, staff, a FHIR Consent) lets it go.
    grants = latest_grants(
        session,
        {
            (m.patient_id, m.channel)
            for m in phoned
            if m.recipient_kind == "patient" and number[m.id] in stops
        },
    )
    return [
        m.id
        for m in phoned
        if number[m.id] in stops
        and not (
            m.recipient_kind == "patient"
            and (granted := grants.get((m.patient_id, m.channel))) is not None
            and granted > stops[number[m.id]]
        )
    ]


def closed_offer_messages(
    session: Session, outbox_ids: Sequence[int], *, now: datetime
) -> set[int]:
    """Of these messages, the ones carrying a visit offer no longer open (booked by another
    channel, replaced by a newer offer, or expired): sending them would offer times that
    cannot be booked. A message shared by several offers goes while any of them is open."""
    if not outbox_ids:
        return set()
    rows = session.execute(
        select(AccessOffer.outbox_id, AccessOffer.state, AccessOffer.expires_at).where(
            any_of(session, AccessOffer.outbox_id, outbox_ids)
        )
    ).all()
    closed: set[int] = set()
    open_ids: set[int] = set()
    for outbox_id, state, expires_at in rows:
        if state == "open" and expires_at > now:
            open_ids.add(outbox_id)
        else:
            closed.add(outbox_id)
    return closed - open_ids
