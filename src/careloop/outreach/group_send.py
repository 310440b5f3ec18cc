"""Sending a chunk with one transaction per group of messages instead of one per message.

Used for channels whose gateway can be asked what it already sent (a
:class:`~careloop.channels.interface.Reconciler`: Twilio's message list), where being in
doubt after a crash costs a look-up, not a double text. One transaction per group:

1. writes the previous group's results (executemany / ``UPDATE ... FROM unnest``);
2. reserves fresh send slots for this group when the worker fell behind the ones planned
   for the batch (sending late would bunch against other workers' slots);
3. marks the group ``calling`` (each message's own attempt row: what reconciliation starts
   from after a crash), renews its leases and admits it against the contact budgets.

A group is ``results_per_commit`` messages; its fresh slots follow the worker's own time
per send, so the group's last message is not late when its turn comes. A round never holds
two messages with the same recipient, sender and text: the gateway's list could not tell
which of them went, so such a twin waits for a later round.

A crash leaves at most one group ``calling``; re-claimed, each of its messages is in doubt
and reconciled: found in the gateway's list → recorded as sent, not found → sent once.
Gateways that cannot be asked keep one ``calling`` mark per send
(:meth:`Worker._send_in_turn`): for them a whole group in doubt would be a group held for
review, or re-sent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from careloop.outreach.claims import Claimed, renew_lease
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


@dataclass
class SendPace:
    """Time this worker takes per send and per group transaction, to place fresh slots
    where its sends will really fall."""

    sent: int = 0
    seconds: float = 0.0
    commit_seconds: float = 0.0

    def per_send(self) -> timedelta:
        """How long one send has taken this far (0 until one was timed)."""
        return timedelta(seconds=self.seconds / self.sent if self.sent else 0.0)

    def lead(self) -> timedelta:
        """Fresh slots start this far ahead: one and a half of this worker's group
        transactions, so they have not expired when the commit returns (on a loaded
        database a transaction can outlast the late tolerance)."""
        return timedelta(seconds=min(1.5 * self.commit_seconds, 1.0))

    def timed(self, worker: Worker, since: datetime) -> None:
        took = (worker.clock.now() - since).total_seconds()
        self.commit_seconds = (
            took if not self.commit_seconds else 0.7 * self.commit_seconds + 0.3 * took
        )


def send_in_groups(worker: Worker, todo: Sequence[Planned], outcomes: list[Outcome]) -> BatchReport:
    """Send ``todo`` a group at a time; ``outcomes`` (decided before any call) are written
    in the first group's transaction."""
    report = BatchReport()
    pending = list(outcomes)
    pace = SendPace()
    for round_ in rounds(todo):
        queue = list(round_)
        while queue:
            size = worker.settings.worker.results_per_commit
            group, queue = queue[:size], queue[size:]
            planned: list[Planned] = []

            plan = partial(
                _plan_group,
                worker=worker,
                group=group,
                report=report,
                into=planned,
                pace=pace,
            )
            began = worker.clock.now()
            recorded, ours = worker.record(pending, calling=[], plan=plan)
            pace.timed(worker, began)
            report.add(recorded)
            pending = []
            mine = [(m, s) for m, s in planned if m.id in ours]
            leased = began
            index = 0
            while index < len(mine):
                message, slot = mine[index]
                if worker.clock.now() - leased > worker.half_lease:
                    # A slow group: renew before the lease runs out, or another worker would
                    # re-claim the rest, find it unsent at the gateway and send it too.
                    leased = worker.clock.now()
                    sent = [o.message.id for o in pending if o.message.id in ours]
                    mine[index:] = _still_mine(worker, mine[index:], sent=sent, now=leased)
                    continue
                if slot is not None and worker.late(slot):  # fell behind within the group
                    began = worker.clock.now()
                    with worker.runtime.transaction() as session:
                        start = began + pace.lead()
                        mine[index:] = reslot(
                            session, worker, mine[index:], report, now=start, step=pace.per_send()
                        )
                    pace.timed(worker, began)
                    continue
                if slot is not None:
                    # Never sleep past the renewal point: a lease that ran out while asleep
                    # hands the rest to another worker.
                    renew_at = leased + worker.half_lease
                    wait = (min(slot, renew_at) - worker.clock.now()).total_seconds()
                    if wait > 0:
                        worker.sleep(wait)
                    if worker.clock.now() - leased > worker.half_lease:
                        continue  # renew first
                started = worker.clock.now()
                pending.append(worker.attempt_at(message, slot))
                pace.sent += 1
                pace.seconds += (worker.clock.now() - started).total_seconds()
                index += 1
    recorded, _ = worker.record(pending, calling=[])
    report.add(recorded)
    return report


def _still_mine(
    worker: Worker, rest: Sequence[Planned], *, sent: Sequence[int], now: datetime
) -> list[Planned]:
    """Renew this worker's lease on ``rest`` and on the rows ``sent`` but not yet recorded
    (else another worker re-claims and reconciles them); rows another worker took are
    dropped from ``rest``."""
    with worker.runtime.transaction() as session:
        ours = renew_lease(
            session,
            ids=[*[m.id for m, _ in rest], *sent],
            worker_id=worker.worker_id,
            now=now,
            lease=timedelta(seconds=worker.settings.worker.lease_seconds),
        )
    return [(m, s) for m, s in rest if m.id in ours]


def _plan_group(
    session: Session,
    now: datetime,
    *,
    worker: Worker,
    group: list[Planned],
    report: BatchReport,
    into: list[Planned],
    pace: SendPace,
) -> list[Claimed]:
    """In the group's transaction: fresh slots if the worker fell behind the batch's plan;
    the group as it will be sent goes ``into`` the caller's list."""
    fresh = group
    if group and group[0][1] is not None and worker.late(group[0][1]):
        fresh = reslot(session, worker, group, report, now=now + pace.lead(), step=pace.per_send())
    into[:] = fresh
    return [m for m, _ in fresh]


def reslot(
    session: Session,
    worker: Worker,
    group: Sequence[Planned],
    report: BatchReport,
    *,
    now: datetime,
    step: timedelta,
) -> list[Planned]:
    """Fresh slots from ``now`` (a lead ahead of the clock) for the paced messages of
    ``group``, in the caller's transaction; those with no slot within half a lease go back
    to the queue. The ``i``-th message's slot is no earlier than ``now + i * step`` (the
    worker's time per send), so the last of the group is not late by the time of the
    first ones' sends."""
    by_key: dict[str, list[Claimed]] = defaultdict(list)
    earliest: dict[str, list[datetime]] = defaultdict(list)
    planned: list[Planned] = []
    rates: dict[str, float] = {}
    for position, (message, slot) in enumerate(group):
        if slot is None:
            planned.append((message, None))
            continue
        key = sender_key(message.channel, message.sender)
        rates[key] = worker.sender_rate(message)
        by_key[key].append(message)
        earliest[key].append(now + position * step)
    reservations = reserve_many(
        session,
        wanted={key: (len(ms), worker.interval(rates[key])) for key, ms in by_key.items()},
        now=now,
        horizon=worker.half_lease,
        not_before=earliest,
    )
    for key, messages in by_key.items():
        reservation = reservations[key]
        got = len(reservation.slots)
        planned.extend(zip(messages[:got], reservation.slots, strict=True))
        if got < len(messages):
            report.deferred += len(messages) - got
            release(
                session,
                messages=messages[got:],
                at=reservation.next_free,
                worker_id=worker.worker_id,
            )
    planned.sort(key=lambda p: (p[1] is not None, p[1] or now))
    return planned
