"""Sending a chunk with a few statements per group instead of a dozen per message.

Used for channels whose gateway can be asked what it already sent (a
:class:`~careloop.channels.interface.Reconciler`: Twilio's message list), where being in
doubt after a crash costs a look-up, not a double text:

1. **one ``calling`` mark per round**: one transaction marks every message of the round
   ``calling`` (its own attempt row: the per-message tag reconciliation starts from), renews
   the leases and admits the round against the patients' contact budgets;
2. **results in group commits**: every ``results_per_commit`` sends, one transaction writes
   the results (executemany/``unnest``), and renews the leases of the rest once half a lease
   has gone, dropping any row another worker took meanwhile;
3. **one re-plan when late**: a worker that fell behind its reserved slots reserves fresh
   ones for the whole remainder in one transaction, never one per message.

A round never holds two messages with the same recipient, sender and text: the gateway's
list could not tell which of them went, so each such twin waits for the next round.

A crash leaves the round's unrecorded messages ``calling``; when re-claimed they are in doubt
and reconciled one by one: found → recorded as sent, not found → sent once. Gateways that
cannot be asked keep the one-``calling``-mark-per-send path (:meth:`Worker._send_in_turn`):
there a whole round in doubt would be a whole round held for review, or re-sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from careloop.outreach.claims import Claimed
from careloop.outreach.ratelimit import reserve_many, sender_key
from careloop.outreach.results import BatchReport, Outcome, release

if TYPE_CHECKING:
    from careloop.outreach.worker import Worker

Planned = tuple[Claimed, datetime | None]


def rounds(todo: Sequence[Planned]) -> list[list[Planned]]:
    """Split ``todo`` (in order) so no round holds two messages the gateway's list could
    not tell apart (same channel, recipient, sender and text); usually one round."""
    out: list[list[Planned]] = []
    seen: list[set[tuple[str, str, str | None, str]]] = []
    for message, slot in todo:
        print_ = (message.channel, message.to_address, message.sender, message.body)
        for index, fingerprints in enumerate(seen):
            if print_ not in fingerprints:
                fingerprints.add(print_)
                out[index].append((message, slot))
                break
        else:
            seen.append({print_})
            out.append([(message, slot)])
    return out


def send_in_groups(worker: Worker, todo: Sequence[Planned], outcomes: list[Outcome]) -> BatchReport:
    """Send ``todo`` round by round; ``outcomes`` (decided before any call) are written with
    the first ``calling`` mark."""
    report = BatchReport()
    pending = list(outcomes)
    for round_ in rounds(todo):
        recorded, ours = worker.record(pending, calling=[m for m, _ in round_])
        report.add(recorded)
        pending = []
        marked = worker.clock.now()
        queue = [(m, s) for m, s in round_ if m.id in ours]
        index = 0
        while index < len(queue):
            message, slot = queue[index]
            if slot is not None and worker.late(slot):
                queue[index:] = replan(worker, queue[index:], report)
                continue
            index += 1
            pending.append(worker.attempt_at(message, slot))
            # Commit a group when it is full, or when half the lease has gone (a slow gateway):
            # the rest of the round is then renewed, so no other worker takes it mid-send.
            lease = worker.settings.worker.lease_seconds
            renewing = (worker.clock.now() - marked).total_seconds() > lease / 2
            if len(pending) < worker.settings.worker.results_per_commit and not renewing:
                continue
            renew = [m.id for m, _ in queue[index:]] if renewing else []
            recorded, still = worker.record(pending, calling=[], renew=renew)
            report.add(recorded)
            pending = []
            if renew:
                marked = worker.clock.now()
                queue[index:] = [(m, s) for m, s in queue[index:] if m.id in still]
    recorded, _ = worker.record(pending, calling=[])
    report.add(recorded)
    return report


def replan(worker: Worker, remaining: Sequence[Planned], report: BatchReport) -> list[Planned]:
    """Fresh slots for every paced message left (this worker fell behind its slots: sending
    them late would bunch up against other workers' slots), in one transaction; those with
    no slot within half a lease go back to the queue."""
    by_key: dict[str, list[Claimed]] = defaultdict(list)
    unpaced: list[Planned] = []
    rates: dict[str, float] = {}
    for message, slot in remaining:
        if slot is None:
            unpaced.append((message, None))
            continue
        key = sender_key(message.channel, message.sender)
        rates[key] = worker.sender_rate(message)
        by_key[key].append(message)
    settings = worker.settings.worker
    planned: list[Planned] = list(unpaced)
    with worker.runtime.transaction() as session:
        now = worker.clock.now()
        reservations = reserve_many(
            session,
            wanted={key: (len(ms), worker.interval(rates[key])) for key, ms in by_key.items()},
            now=now + timedelta(milliseconds=settings.slot_lead_ms),
            horizon=timedelta(seconds=settings.lease_seconds / 2),
        )
        for key, messages in by_key.items():
            reservation = reservations[key]
            got = len(reservation.slots)
            planned.extend(zip(messages[:got], reservation.slots, strict=True))
            if got < len(messages):
                report.deferred += len(messages) - got
                release(session, messages=messages[got:], at=reservation.next_free)
    planned.sort(key=lambda p: (p[1] is not None, p[1] or now))
    return planned
