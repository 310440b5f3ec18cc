"""A group's commit in one statement on PostgreSQL (issue 15 item 3): the previous group's
results (outbox, attempts, events), this group's ``calling`` mark and the asynchronous
commit. What each write does is asserted on both backends; the statement count where it
is the point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import event, select, text, update
from tests.outreach.conftest import Loop, make_patient, sql_statements
from tests.outreach.test_outreach_dispatch import Blind, _queue, _sender

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import (
    ChannelKind,
    DeliveryStatus,
    SendResult,
)
from careloop.channels.registry import ChannelRegistry
from careloop.clock import ensure_utc
from careloop.models import Event, OutboxMessage, SendAttempt, SenderSlot
from careloop.outreach.claims import Claimed, claim_due
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.results import Outcome, record_group
from careloop.runtime import Runtime

LEASE = timedelta(seconds=60)


def _releases(statements: list[str]) -> list[int]:
    """Where in ``statements`` the worker hands its senders back."""
    return [
        i
        for i, s in enumerate(statements)
        if "UPDATE outreach_sender_slots SET leased_by" in s
        and "WHERE outreach_sender_slots.leased_by" in s
    ]


def _no_backoff(_attempt: int) -> timedelta:
    return timedelta(seconds=30)


def test_a_group_commit_records_the_last_group_and_marks_the_next_one_calling(
    rt: Runtime,
) -> None:
    _queue(rt, 6)
    now = rt.clock.now()
    with rt.transaction() as session:
        claimed = claim_due(session, worker_id="w1", now=now, limit=6, lease=LEASE)
    first, second = claimed[:3], claimed[3:]
    with rt.transaction() as session:
        _, ours = record_group(
            session,
            outcomes=[],
            calling=first,
            worker_id="w1",
            now=now,
            lease=LEASE,
            backoff=_no_backoff,
        )
    assert ours == {m.id for m in first}
    taken = second[0].id
    with rt.transaction() as session:  # w1's lease on this row ran out and w2 took it
        session.execute(
            update(OutboxMessage).where(OutboxMessage.id == taken).values(claimed_by="w2")
        )
    later = now + timedelta(seconds=2)
    outcomes = [
        Outcome(first[0], result=SendResult(provider_id="SM1", status=DeliveryStatus.QUEUED)),
        Outcome(first[1], result=SendResult(provider_id="SM2", status=DeliveryStatus.QUEUED)),
        Outcome(first[2], error=ChannelError(FailureReason.TIMEOUT, permanent=False)),
    ]
    postgresql = rt.engine.dialect.name == "postgresql"
    with rt.transaction() as session, sql_statements(rt.engine) as seen:
        report, ours = record_group(
            session,
            outcomes=outcomes,
            calling=second,
            worker_id="w1",
            now=later,
            lease=LEASE,
            backoff=_no_backoff,
        )
        statements = list(seen)
        if postgresql:  # the commit of this transaction does not wait for the WAL flush
            assert session.execute(text("SHOW synchronous_commit")).scalar() == "off"
    if postgresql:
        assert len(statements) == 1, statements
        assert not any(s.startswith("SET") for s in statements)
    assert (report.sent, report.retried) == (2, 1)
    assert ours == {m.id for m in second} - {taken}
    with rt.transaction() as session:
        rows = {
            r.id: r
            for r in session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.id.in_(ours | {m.id for m in first} | {taken})
                )
            )
        }
        attempts = dict(session.execute(select(SendAttempt.message_id, SendAttempt.outcome)).all())
        finished = dict(
            session.execute(select(SendAttempt.message_id, SendAttempt.finished_at)).all()
        )
        events = session.execute(
            select(Event.subject_id, Event.kind, Event.payload).where(
                Event.subject_type == "outbox_message"
            )
        ).all()
    assert [rows[m.id].state for m in first] == ["sent", "sent", "failed-transient"]
    assert [rows[m.id].provider_id for m in first] == ["SM1", "SM2", None]
    assert ensure_utc(rows[first[2].id].next_attempt_at) == later + timedelta(seconds=30)
    assert all(rows[m.id].lease_until is None for m in first)
    assert [attempts[m.id] for m in first] == ["accepted", "accepted", "transient"]
    assert all(ensure_utc(finished[m.id]) == later for m in first)
    by_subject = {(s, k) for s, k, _ in events}
    assert by_subject == {
        (str(first[0].id), "sent"),
        (str(first[1].id), "sent"),
        (str(first[2].id), "failed"),
    }
    payloads = {s: p for s, _k, p in events}
    assert payloads[str(first[0].id)]["provider_status"] == "queued"
    assert payloads[str(first[2].id)] | {"reason": "timeout"} == payloads[str(first[2].id)]
    # The next group: this worker's rows marked calling and renewed; w2's row left alone.
    assert {m.id: attempts[m.id] for m in second} == {
        m.id: "started" if m.id == taken else "calling" for m in second
    }
    assert {m.id for m in second if ensure_utc(rows[m.id].lease_until) == later + LEASE} == ours
    assert ensure_utc(rows[taken].lease_until) == now + LEASE


def test_results_of_a_row_another_worker_recorded_first_are_not_written_over(
    rt: Runtime,
) -> None:
    _queue(rt, 2)
    now = rt.clock.now()
    with rt.transaction() as session:
        claimed: list[Claimed] = claim_due(session, worker_id="w1", now=now, limit=2, lease=LEASE)
    gone = claimed[0].id
    with rt.transaction() as session:  # recorded meanwhile (re-claimed, reconciled, sent)
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == gone)
            .values(state="sent", provider_id="SM-other")
        )
    with rt.transaction() as session:
        record_group(
            session,
            outcomes=[
                Outcome(
                    m, result=SendResult(provider_id=f"SM-w1-{m.id}", status=DeliveryStatus.QUEUED)
                )
                for m in claimed
            ],
            calling=[],
            worker_id="w1",
            now=now,
            lease=LEASE,
            backoff=_no_backoff,
        )
    with rt.transaction() as session:
        provider = dict(session.execute(select(OutboxMessage.id, OutboxMessage.provider_id)).all())
    assert provider == {gone: "SM-other", claimed[1].id: f"SM-w1-{claimed[1].id}"}


def test_a_worker_writes_each_group_in_a_bounded_number_of_statements(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """40 texts in groups of 10: per group commit, one statement writes the results and the
    calling mark on PostgreSQL; the whole batch stays within a fixed number of statements
    per message on both backends."""
    loop = make_loop([], {})
    own = loop.worker.settings
    grouped = own.worker.model_copy(update={"results_per_commit": 10})
    loop.worker.settings = own.model_copy(update={"worker": grouped})
    keys = _queue(rt, 40)
    with sql_statements(rt.engine) as seen:
        report = loop.work()
    assert report.sent == 40
    assert sorted(a.idempotency_key for a in loop.sms.attempts) == sorted(keys)
    writes = [s for s in seen if "UPDATE outreach_attempts" in s]
    if rt.engine.dialect.name == "postgresql":
        assert not any(s.startswith("SET") for s in seen)
        # 4 group commits and the last results: each one statement that also marks calling.
        assert len([s for s in seen if s.startswith("WITH s AS")]) == 5
        # 23: the batch's claim, sender leases, re-checks and slots, and per group the
        # commit's one statement, which also takes the budget's locks, and the budget's
        # count, which also marks the contacts (31 with the lock and the mark statements of
        # their own; before that a SET, the outbox, attempts and events writes and the
        # calling mark, five, per group commit); 25 with the dead-worker check that each
        # of the two claims (the batch's, the empty one after it) makes first; 26 with the
        # re-check's one look-up of the numbers that replied STOP as a caregiver's
        # (``claims.to_stopped_numbers``, one a chunk).
        assert len(seen) <= 26, len(seen)
        assert len([s for s in seen if "FROM number_opt_outs" in s]) == 1
        assert len([s for s in seen if "FROM outreach_worker_presence" in s]) == 2
        commits = [s for s in seen if s.startswith("WITH s AS")]
        assert all("INSERT INTO outreach_contact_budget" in s for s in commits[:4])
        assert not any(s.startswith("INSERT INTO outreach_contact_budget") for s in seen)
    else:
        assert writes  # executemany updates elsewhere
        assert len(seen) / 40 <= 2.0, len(seen)


def test_a_group_commit_marks_its_contacts_with_their_lease_and_refuses_a_spent_week(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """The budget at dispatch on the group path: each text sent carries the moment it went
    as its contact time; a patient whose week is spent is refused and keeps none. On
    PostgreSQL the mark rides in the group commit's own lease renewal (one update of each
    row, not two) and the budget's count after it only reads."""
    loop = make_loop([], {})
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={
            "worker": own.worker.model_copy(update={"results_per_commit": 5}),
            "budget": own.budget.model_copy(update={"per_day": 1, "per_week": 1}),
        }
    )
    keys = _queue(rt, 12)
    now = rt.clock.now()
    with rt.transaction() as session:
        spent = session.scalars(
            select(OutboxMessage.patient_id).where(OutboxMessage.idempotency_key == keys[3])
        ).one()
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"{keys[3]}:earlier",
                    patient_id=spent,
                    purpose="care-reminders",
                    channel="sms",
                    to_address="+16175550003",
                    body="Earlier reminder.",
                    due_at=now - timedelta(days=2),
                )
            ],
            now=now - timedelta(days=2),
        )
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.idempotency_key == f"{keys[3]}:earlier")
            .values(state="sent", contact_at=now - timedelta(days=2))
        )
    with sql_statements(rt.engine) as seen:
        report = loop.work()
    assert (report.sent, report.dead) == (11, 1)
    with rt.transaction() as session:
        rows = {
            r.idempotency_key: r
            for r in session.scalars(
                select(OutboxMessage).where(OutboxMessage.idempotency_key.in_(keys))
            )
        }
    assert rows[keys[3]].dead_reason == "over-budget"
    assert rows[keys[3]].contact_at is None
    assert {k for k in keys if rows[k].state == "sent"} == set(keys) - {keys[3]}
    assert all(ensure_utc(rows[k].contact_at) == now for k in keys if k != keys[3])
    if rt.engine.dialect.name == "postgresql":
        assert not any(s.startswith("WITH marked") for s in seen)
        counts = [s for s in seen if s.startswith("SELECT") and "contact_at >=" in s]
        assert len(counts) == 3, counts  # one per group of 5, 5 and 2


def test_the_batchs_last_transaction_hands_the_senders_back(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """The senders a worker leased for its batch are released with the batch's last results,
    not in a transaction of their own, and no sender is left leased afterwards."""
    loop = make_loop([], {})
    own = loop.worker.settings
    loop.worker.settings = own.model_copy(
        update={
            "sender_rates": {f"sms:{_sender(0)}": 1000.0},
            "worker": own.worker.model_copy(update={"results_per_commit": 4}),
        }
    )
    _queue(rt, 10)
    seen: list[str] = []

    def _commit(_conn: object) -> None:
        seen.append("COMMIT")

    def _statement(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(rt.engine, "commit", _commit)
    event.listen(rt.engine, "before_cursor_execute", _statement)
    try:
        report = loop.worker.run_once()
    finally:
        event.remove(rt.engine, "commit", _commit)
        event.remove(rt.engine, "before_cursor_execute", _statement)
    assert report.sent == 10
    released = _releases(seen)
    assert len(released) == 1
    before = seen[released[0] - 1]
    # The statement before it, in the same transaction, wrote the last results.
    assert before != "COMMIT"
    assert before.lstrip().startswith(("WITH s AS", "INSERT INTO events", "UPDATE")), before
    assert seen[released[0] + 1 :] == ["COMMIT"]
    with rt.transaction() as session:
        leased = session.scalars(
            select(SenderSlot.sender_key).where(SenderSlot.leased_by.is_not(None))
        ).all()
    assert leased == []


def test_a_last_chunk_with_both_paths_keeps_its_senders_until_the_last_send(
    rt: Runtime, make_loop: Callable[..., Loop]
) -> None:
    """When the batch's last chunk holds texts (sent in groups) and calls the gateway cannot
    be asked about (sent one by one), the senders are not handed back by the groups' last
    record while calls are still to be made: the release is the batch's last write."""
    loop = make_loop([], {})  # unpaced: the texts and the calls share one chunk
    registry = loop.worker.channels
    loop.worker.channels = ChannelRegistry(
        {
            ChannelKind.SMS: registry.get(ChannelKind.SMS),
            ChannelKind.EMAIL: registry.get(ChannelKind.EMAIL),
            ChannelKind.VOICE: Blind(loop.voice, ChannelKind.VOICE),
            ChannelKind.PORTAL: registry.get(ChannelKind.PORTAL),
        }
    )
    _queue(rt, 4)
    now = rt.clock.now()
    for i in range(2):
        make_patient(rt, patient_id=f"voice-last-{i}", phone=f"+1617556{i:04d}")
    with rt.transaction() as session:
        enqueue_many(
            session,
            messages=[
                NewMessage(
                    idempotency_key=f"voice-last-{i}",
                    patient_id=f"voice-last-{i}",
                    purpose="care-reminders",
                    channel="voice",
                    to_address=f"+1617556{i:04d}",
                    body=f"Call {i}.",
                    due_at=now,
                )
                for i in range(2)
            ],
            now=now,
        )
    with sql_statements(rt.engine) as seen:
        report = loop.worker.run_once()
        statements = list(seen)
    assert report.sent == 6
    released = _releases(statements)
    assert len(released) == 1
    assert not any("outreach_attempts" in s for s in statements[released[0] + 1 :])
