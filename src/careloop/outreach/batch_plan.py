"""Planning a claimed batch's sends: slots reserved per paced sender before the first call.

A worker's batch is planned in one transaction (:func:`plan_batch`): each paced sender's
slots are reserved on its row (:mod:`careloop.outreach.ratelimit`), rows locked in key order
so workers never deadlock; what gets no slot within half a lease goes back to the queue.
A sender that woke too late for its slot takes a fresh one (:func:`await_slot`) rather than
sending late against the next slots.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from careloop.outreach.claims import Claimed
from careloop.outreach.ratelimit import reserve_many, reserve_slots, sender_key
from careloop.outreach.results import BatchReport, release

if TYPE_CHECKING:
    from careloop.outreach.worker import Worker


def plan_batch(
    worker: Worker, by_sender: dict[str, list[Claimed]], report: BatchReport
) -> list[tuple[datetime | None, Claimed]]:
    """Reserve send slots for paced senders (one transaction, rows locked in key order so
    workers never deadlock); rows that get no slot within the lease go back to the queue."""
    planned: list[tuple[datetime | None, Claimed]] = []
    paced: dict[str, float] = {}
    for key, messages in by_sender.items():
        rate = worker.rate_of(key, messages[0].channel, messages[0].sender)
        if rate is None:
            planned.extend((None, m) for m in messages)
        else:
            paced[key] = rate
    if not paced:
        return planned
    returned: list[tuple[list[Claimed], datetime]] = []
    with worker.runtime.transaction() as session:
        # Slots start a little ahead so the consent re-check before the first send
        # cannot make it late (late sends bunch up against on-time ones).
        start = worker.clock.now() + timedelta(milliseconds=worker.settings.worker.slot_lead_ms)
        reservations = reserve_many(
            session,
            wanted={
                key: (len(by_sender[key]), worker.interval(rate)) for key, rate in paced.items()
            },
            now=start,
            horizon=timedelta(seconds=worker.settings.worker.lease_seconds / 2),
        )
        for key in sorted(paced):
            messages = by_sender[key]
            reservation = reservations[key]
            reserved = len(reservation.slots)
            planned.extend(zip(reservation.slots, messages[:reserved], strict=True))
            if reserved < len(messages):
                returned.append((messages[reserved:], reservation.next_free))
    if returned:
        with worker.runtime.transaction() as session:
            for messages, at in returned:
                report.deferred += len(messages)
                release(session, messages=messages, at=at, worker_id=worker.worker_id)
    return planned


def await_slot(worker: Worker, message: Claimed, slot: datetime) -> datetime | None:
    """Sleep until ``slot``; if this process woke too late (descheduled, slow re-check),
    the missed slot is abandoned and a fresh one reserved, so late sends never burst."""
    now = worker.clock.now()
    if worker.late(slot):
        key = sender_key(message.channel, message.sender)
        with worker.runtime.transaction() as session:
            reservation = reserve_slots(
                session,
                key=key,
                count=1,
                interval=worker.interval(worker.sender_rate(message)),
                now=now,
                horizon=timedelta(seconds=worker.settings.worker.lease_seconds / 2),
            )
            if not reservation.slots:
                release(
                    session,
                    messages=[message],
                    at=reservation.next_free,
                    worker_id=worker.worker_id,
                )
                return None
        slot = reservation.slots[0]
    wait = (slot - worker.clock.now()).total_seconds()
    if wait > 0:
        worker.nap(wait)
    return slot
