"""Sending one chunk of a batch: the last consent and quiet-hours check, then the sends.

One transaction re-reads consent, the enrollments and the patients' quiet hours right before
the calls (a STOP that arrived after scheduling wins; a message due inside the patient's
night goes back to the queue until it ends). The rest is sent by ``worker.concurrency``
sender threads, each recording its results as it goes: in groups where the gateway can be
asked what it sent (:mod:`careloop.outreach.group_send`), else one ``calling`` mark per
send (:func:`send_in_turn`), so a crash leaves at most one of them in doubt.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING

from careloop.outreach.batch_plan import await_slot
from careloop.outreach.claims import Claimed, refused_now
from careloop.outreach.group_send import send_in_groups
from careloop.outreach.quiet_hours import quiet_now
from careloop.outreach.results import BatchReport, Outcome, release

if TYPE_CHECKING:
    from careloop.outreach.worker import Worker


def send_chunk(
    worker: Worker, messages: Sequence[Claimed], *, slots: Sequence[datetime | None]
) -> BatchReport:
    """Send one chunk, recording results as they happen: one transaction writes the
    results of the messages just sent and marks the next ``record_every`` messages
    ``calling``, so a crash leaves at most that many of this worker's sends unrecorded
    (in doubt, reconciled when re-claimed)."""
    with worker.runtime.transaction() as session:
        now = worker.clock.now()
        refused = refused_now(session, messages=messages, now=now)
        quiet = quiet_now(session, messages=[m for m in messages if m.id not in refused], now=now)
        for message in messages:
            if message.id in quiet:  # handed back, due when the patient's night ends
                release(
                    session, messages=[message], at=quiet[message.id], worker_id=worker.worker_id
                )
    outcomes = [
        Outcome(m, dead=refused[m.id], slot_at=s)
        for m, s in zip(messages, slots, strict=True)
        if m.id in refused
    ]
    held = refused.keys() | quiet.keys()
    todo = [(m, s) for m, s in zip(messages, slots, strict=True) if m.id not in held]
    report = BatchReport(deferred=len(quiet))
    senders = min(worker.settings.worker.concurrency, len(todo))
    if senders <= 1:
        report.add(send_share(worker, todo, outcomes))
        return report
    # Concurrent senders, each sending its share and recording its results as it goes:
    # a crash leaves at most one group per sender unrecorded.
    report.add(worker.record(outcomes, calling=[])[0])
    with ThreadPoolExecutor(max_workers=senders, thread_name_prefix="outbox-send") as pool:
        for part in pool.map(
            lambda share: send_share(worker, share, []),
            [todo[i::senders] for i in range(senders)],
        ):
            report.add(part)
    return report


def send_share(
    worker: Worker, todo: Sequence[tuple[Claimed, datetime | None]], outcomes: list[Outcome]
) -> BatchReport:
    """Messages whose gateway can be asked go in groups (:mod:`.group_send`); the others
    one ``calling`` mark per send, so a crash leaves at most one of them in doubt."""
    grouped = [(m, s) for m, s in todo if worker.reconcilable(m.channel)]
    one_by_one = [(m, s) for m, s in todo if not worker.reconcilable(m.channel)]
    report = send_in_groups(worker, grouped, outcomes) if grouped else BatchReport()
    report.add(send_in_turn(worker, one_by_one, [] if grouped else outcomes))
    return report


def send_in_turn(
    worker: Worker, todo: Sequence[tuple[Claimed, datetime | None]], outcomes: list[Outcome]
) -> BatchReport:
    """Send one after another; one transaction records the results just received and
    marks the next ``record_every`` messages ``calling``."""
    step = worker.settings.worker.record_every
    report = BatchReport()
    for start in range(0, len(todo), step):
        group = todo[start : start + step]
        recorded, ours = worker.record(outcomes, calling=[m for m, _ in group])
        report.add(recorded)
        outcomes = []
        for message, slot in group:
            outcome = attempt(worker, message, slot) if message.id in ours else None
            if outcome is not None:
                outcomes.append(outcome)
    recorded, _ = worker.record(outcomes, calling=[])
    report.add(recorded)
    return report


def attempt(worker: Worker, message: Claimed, slot: datetime | None) -> Outcome | None:
    """Wait for the slot, settle a doubt, call; ``None``: handed back to the queue."""
    if slot is not None:
        slot = await_slot(worker, message, slot)
        if slot is None:
            return None  # no slot left within the lease: handed back to the queue
    return worker.attempt_at(message, slot)
