"""Sending a chunk with one transaction per group of messages instead of one per message.

Used for channels whose gateway can be asked what it already sent (a
:class:`~careloop.channels.interface.Reconciler`: Twilio's message list), where being in
doubt after a crash costs a look-up, not a double text. One transaction per group:

1. writes the previous group's results (executemany / ``UPDATE ... FROM unnest``);
2. marks the group ``calling`` (each message's own attempt row: what reconciliation starts
   from after a crash), renews its leases and admits it against the contact budgets;
3. last, reserves fresh send slots for the messages the worker would reach too late for
   the slots planned for the batch (sending late would bunch against other workers' slots).

A group is the sends the worker expects to make in ``group_seconds`` (its measured time
per send, and the group's slots), at most ``results_per_commit``
(:meth:`SendPace.group_size`): many against a fast gateway, so the commit's cost is spread
thin, one to three against a slow one, so results are recorded as they come and a crash
leaves little in doubt. Its fresh slots are placed from the moment the group's commit is
expected to return (the latency from reservation to commit, as measured) at the worker's
measured median time per send, half the late tolerance early: a worker that keeps its own
pace neither sleeps for a slot nor falls late for one. A round never holds two messages
with the same recipient, sender and text: the gateway's list could not tell which of them
went, so such a twin waits for a later round.

A crash leaves at most one group ``calling``; re-claimed, each of its messages is in doubt
and reconciled: found in the gateway's list → recorded as sent, not found → sent once.
Gateways that cannot be asked keep one ``calling`` mark per send
(:func:`careloop.outreach.chunk_send.send_in_turn`): for them a whole group in doubt would
be a group held for review, or re-sent.
"""

from __future__ import annotations

import logging
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from careloop.outreach.claims import Claimed, renew_lease
from careloop.outreach.in_doubt import settle_many
from careloop.outreach.ratelimit import reserve_many, sender_key
from careloop.outreach.results import BatchReport, Outcome, release
from careloop.outreach.worker_presence import PresenceLost

if TYPE_CHECKING:
    from careloop.outreach.worker import Worker

log = logging.getLogger("careloop.outreach.group_send")

Planned = tuple[Claimed, datetime | None]

FIRST_GROUP = 10
"""A worker's first group, before its pace is measured: small, so a slow gateway's first
group is not a whole ``results_per_commit`` of sends in doubt."""


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
    """Where this worker's sends really fall, kept for the worker's life so every batch
    starts from what the last ones measured.

    ``latency``: from reserving slots to the commit that makes them this worker's returning;
    ``per_send``: the median time of one send (the gateway call and the worker's own work
    around it, never the sleeping). Both smoothed over groups; concurrent senders of one
    worker share them (they send at the same pace), a lost update only loses a sample."""

    latency: float | None = None
    per_send: float | None = None

    def expected(self, at: datetime, position: int) -> datetime:
        """When the worker will reach the ``position``-th send of slots reserved at ``at``."""
        return at + timedelta(seconds=(self.latency or 0.0) + position * (self.per_send or 0.0))

    def group_size(self, queue: Sequence[Planned], *, now: datetime, span: float, most: int) -> int:
        """How many of ``queue`` (in send order, at least one, at most ``most``) this worker
        expects to send within ``span`` seconds of its first send: each send at its slot, or
        ``per_send`` after the one before if that is later. Before any send was measured, at
        most :data:`FIRST_GROUP` (the first sends measure the pace)."""
        if self.per_send is None:
            return min(most, FIRST_GROUP)
        step = timedelta(seconds=self.per_send)
        at = now + timedelta(seconds=self.latency or 0.0)
        end: datetime | None = None
        for count, (_, slot) in enumerate(queue[:most]):
            if slot is not None and slot > at:
                at = slot
            if end is None:
                end = at + timedelta(seconds=span)
            elif at >= end:
                return count
            at += step
        return most

    def committed(self, took: timedelta) -> None:
        self.latency = _smoothed(self.latency, took.total_seconds())

    def sent(self, durations: Sequence[float]) -> None:
        if durations:
            self.per_send = _smoothed(self.per_send, statistics.median(durations))


def _smoothed(old: float | None, sample: float) -> float:
    return sample if old is None else 0.7 * old + 0.3 * sample


def send_in_groups(worker: Worker, todo: Sequence[Planned], outcomes: list[Outcome]) -> BatchReport:
    """Send ``todo`` a group at a time; ``outcomes`` (decided before any call) are written
    in the first group's transaction."""
    report = BatchReport()
    pending = list(outcomes)
    pace = worker.send_pace
    for round_ in rounds(todo):
        queue = list(round_)
        while queue:
            size = pace.group_size(
                queue,
                now=worker.clock.now(),
                span=worker.settings.worker.group_seconds,
                most=worker.settings.worker.results_per_commit,
            )
            group, queue = queue[:size], queue[size:]
            planned: list[Planned] = []
            reserved: list[datetime] = []
            plan = partial(
                _plan_group, worker=worker, group=group, report=report, into=planned, at=reserved
            )
            began = worker.clock.now()
            recorded, ours = worker.record(pending, calling=[m for m, _ in group], plan=plan)
            if reserved:
                pace.committed(worker.clock.now() - reserved[0])
            report.add(recorded)
            pending = []
            durations: list[float] = []
            # The group's doubts settled before its first send: one look-up for all.
            settled, mine = settle_doubts(worker, [(m, s) for m, s in planned if m.id in ours])
            pending.extend(settled)
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
                    at = worker.clock.now()
                    with worker.runtime.transaction() as session:
                        mine[index:] = reslot(session, worker, mine[index:], report, at=at)
                    pace.committed(worker.clock.now() - at)
                    continue
                if slot is not None:
                    # Never sleep past the renewal point: a lease that ran out while asleep
                    # hands the rest to another worker.
                    renew_at = leased + worker.half_lease
                    wait = (min(slot, renew_at) - worker.clock.now()).total_seconds()
                    if wait > 0:
                        worker.nap(wait)
                    if worker.clock.now() - leased > worker.half_lease:
                        continue  # renew first
                started = worker.clock.now()
                pending.append(worker.attempt_at(message, slot))
                durations.append((worker.clock.now() - started).total_seconds())
                index += 1
            pace.sent(durations)
    recorded, _ = worker.record(pending, calling=[])
    report.add(recorded)
    return report


def settle_doubts(
    worker: Worker, planned: Sequence[Planned]
) -> tuple[list[Outcome], list[Planned]]:
    """Settle a group's messages in doubt before any of it is sent (:func:`settle_many`: one
    look-up transaction for the group, where one per message kept a dead worker's adopted
    group waiting): the outcomes of those settled (found at the gateway, or held), and the
    group left to send, the ones the gateway has no record of no longer in doubt (sending
    now sends them once; found ones wait for no slot)."""
    doubts = [(m, s) for m, s in planned if m.in_doubt_since is not None]
    if not doubts:
        return [], list(planned)
    if worker.presence is not None and not worker.presence.intact():
        raise PresenceLost(f"worker {worker.worker_id} lost its presence lock mid-batch")
    keeper = _LeaseKeeper(worker, [m.id for m, _ in planned], leased=worker.clock.now())
    settled = settle_many(
        doubts,
        channels=worker.channels,
        runtime=worker.runtime,
        worker=worker.settings.worker,
        outbound=worker.outbound,
        matched=worker.matched,
        between=keeper,
    )
    found = [o for o in settled.values() if o is not None and o.message.id not in keeper.lost]
    log.info("%d sends in doubt settled, %d found at the gateway", len(doubts), len(found))
    rest = [
        (replace(m, in_doubt_since=None) if m.id in settled else m, s)
        for m, s in planned
        if settled.get(m.id) is None and m.id not in keeper.lost
    ]
    return found, rest


@dataclass
class _LeaseKeeper:
    """Renews the lease on a group's rows while its look-ups are in flight (a dead worker's
    adopted group, a few dozen look-ups of a real gateway's ~0.15 s each, outlasts a lease
    of a few seconds): called between answers, renews once half a lease has passed since
    the last renewal. ``lost``: rows another worker took meanwhile (neither sent nor
    recorded by this one)."""

    worker: Worker
    ids: list[int]
    leased: datetime
    lost: set[int] = field(default_factory=set)

    def __call__(self) -> None:
        now = self.worker.clock.now()
        if now - self.leased <= self.worker.half_lease:
            return
        self.leased = now
        ids = [i for i in self.ids if i not in self.lost]
        self.lost.update(set(ids) - _renew(self.worker, ids, now=now))


def _still_mine(
    worker: Worker, rest: Sequence[Planned], *, sent: Sequence[int], now: datetime
) -> list[Planned]:
    """Renew this worker's lease on ``rest`` and on the rows ``sent`` but not yet recorded
    (else another worker re-claims and reconciles them); rows another worker took are
    dropped from ``rest``."""
    ours = _renew(worker, [*[m.id for m, _ in rest], *sent], now=now)
    return [(m, s) for m, s in rest if m.id in ours]


def _renew(worker: Worker, ids: Sequence[int], *, now: datetime) -> set[int]:
    """This worker's lease on ``ids`` renewed in a transaction of its own; the ids still its."""
    with worker.runtime.transaction() as session:
        return renew_lease(
            session,
            ids=ids,
            worker_id=worker.worker_id,
            now=now,
            lease=timedelta(seconds=worker.settings.worker.lease_seconds),
        )


def _plan_group(
    session: Session,
    sendable: set[int],
    *,
    worker: Worker,
    group: list[Planned],
    report: BatchReport,
    into: list[Planned],
    at: list[datetime],
) -> set[int]:
    """The last step of the group's transaction (so the slots are placed as close as can be
    to the commit that makes them this worker's): fresh slots for the messages the worker
    would reach too late for the batch's plan; the group as it will be sent goes ``into``
    the caller's list, and the moment of the reservation ``at``, to time the commit."""
    mine = [(m, s) for m, s in group if m.id in sendable]
    now = worker.clock.now()
    tolerance = timedelta(milliseconds=worker.settings.worker.late_tolerance_ms)
    pace = worker.send_pace
    keep: list[Planned] = []
    behind: list[Planned] = []
    for position, (message, slot) in enumerate(mine):
        late = slot is not None and slot + tolerance < pace.expected(now, position)
        (behind if late else keep).append((message, slot))
    if behind:
        at.append(now)
        keep.extend(reslot(session, worker, behind, report, at=now))
        keep.sort(key=lambda p: (p[1] is not None, p[1] or now))
    into[:] = keep
    return {m.id for m, _ in keep}


def reslot(
    session: Session,
    worker: Worker,
    group: Sequence[Planned],
    report: BatchReport,
    *,
    at: datetime,
) -> list[Planned]:
    """Fresh slots, reserved ``at`` (now), for the paced messages of ``group`` in the
    caller's transaction; those with no slot within half a lease go back to the queue.

    The ``i``-th message's slot is half the late tolerance before the moment the worker
    expects to reach it (the commit's measured latency, then its median time per send),
    never before ``at``: it neither sleeps nor needs another fresh slot unless it strays
    from its measured pace by more than half the tolerance either way. A slot is still
    never closer than the interval to the one before, and a send is never earlier than its
    slot nor later than the tolerance after it (what ``pace_margin`` allows for)."""
    half = timedelta(milliseconds=worker.settings.worker.late_tolerance_ms / 2)
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
        earliest[key].append(max(at, worker.send_pace.expected(at, position) - half))
    reservations = reserve_many(
        session,
        wanted={key: (len(ms), worker.interval(rates[key])) for key, ms in by_key.items()},
        now=at,
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
    planned.sort(key=lambda p: (p[1] is not None, p[1] or at))
    return planned


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
