"""The outbox worker: claim due messages, record the attempt, send, record the result.

Three short transactions per batch, never a provider call inside one:

1. **claim** — ``SELECT ... FOR UPDATE SKIP LOCKED`` picks due rows (queued, failed-transient
   whose backoff has passed, or ``sending`` whose lease expired after a crash); they become
   ``sending`` with ``claimed_by``/``lease_until``, an attempt row is written; COMMIT.
2. **pace and re-check** — per sender, slots are reserved in the database
   (:mod:`careloop.outreach.batch_plan`, :mod:`careloop.outreach.ratelimit`); right before
   the calls (:mod:`careloop.outreach.chunk_send`), consent and the enrollment
   are read again, so a STOP that arrived after scheduling wins, and a message that came due
   inside the patient's quiet hours goes back to the queue until they end
   (:mod:`careloop.outreach.quiet_hours`).
3. **send, recording results as they happen** — where the gateway can be asked what it
   sent (Twilio's message list), one transaction per *group* writes the previous group's
   results, re-slots and marks the group ``calling`` (:mod:`careloop.outreach.group_send`);
   elsewhere one transaction per message writes the previous result and marks this one
   ``calling``. Then the adapter is called. The same transaction admits the messages
   against the patients' contact budget under per-patient locks
   (:mod:`careloop.outreach.budget`).

Gateways do not deduplicate (Twilio ignores the idempotency header on Messages), so a crash
must never leave a send unrecorded that cannot be checked: after a SIGKILL at most one group
per sender thread is ``calling`` where the gateway can be asked, one attempt where not.
When its lease expires the row is re-claimed *in doubt* and the gateway is asked first
(:mod:`careloop.outreach.in_doubt`): found → recorded as sent, nothing sent; not found →
sent once; the gateway cannot tell → ``in-doubt``, held for review (or re-sent, with
``worker.resend_in_doubt``: at most one duplicate per crash).
"""

from __future__ import annotations

import logging
import random
import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import OperationalError

from careloop.channels.errors import ChannelError, FailureReason
from careloop.channels.messages import ChannelKind, OutboundMessage
from careloop.channels.registry import ChannelRegistry
from careloop.clock import Clock
from careloop.errors import InvalidInput
from careloop.outreach.batch_plan import plan_batch
from careloop.outreach.chunk_results import PlanGroup, record_chunk
from careloop.outreach.chunk_send import send_chunk
from careloop.outreach.claims import Claimed, claim_due
from careloop.outreach.config import OutreachSettings
from careloop.outreach.group_send import SendPace, chunks, settle_doubts
from careloop.outreach.outbound import outbound_message, send_from_now
from careloop.outreach.outbox import backoff_delay
from careloop.outreach.ratelimit import sender_key
from careloop.outreach.results import BatchReport, Outcome
from careloop.outreach.sender_leases import release_senders
from careloop.outreach.states import DeadReason
from careloop.outreach.worker_presence import (
    TAKEOVER_GRACE,
    WATCH_EVERY,
    Presence,
    PresenceLost,
    Takeover,
    hold_presence,
)
from careloop.runtime import Runtime

__all__ = ["BatchReport", "Claimed", "Worker", "claim_due"]

log = logging.getLogger("careloop.outreach.worker")
CHUNK = 500
"""Most messages sent between two consent re-checks (and recorded in one transaction)."""

SHORTEST_SPAN = timedelta(milliseconds=100)
"""The shortest a claim is spread over: a claim's own transactions (lease, claim, plan,
release) are a few ms, kept to a small part of the batch."""
FIRST_SPAN = timedelta(seconds=1)
"""What a worker's first claim is spread over, before its pace is measured (at most half a
lease)."""

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
    matched: dict[str, int] = field(default_factory=dict, init=False)
    """Gateway records this worker matched to a message in doubt (maybe not committed yet),
    each with the message's id: never matched to another message, always to that one again."""
    pace: float | None = field(default=None, init=False)
    """Messages per second this worker got through in its last batch, counting only the time
    it was working (never its sleeps until a sender's next slot). The next claim takes no
    more than it can send within half a lease: rows claimed beyond that expire unsent and
    another worker claims them again (at load 30 on 2 cores, 27,355 wasted claims for 3,000
    sends with ``batch`` 500 and a 3 s lease). The sleeps are left out because they are the
    senders' pace, not the worker's: counted in, a claim spread over few senders was slow
    only for their rate, the next claim was made smaller for it, and so on down (the
    benchmark's two workers settled at ~150 msg/s each with 20 senders of 100/s free)."""
    slept: float = field(default=0.0, init=False)
    """Seconds this worker has slept waiting for send slots (:meth:`nap`)."""
    span: timedelta | None = field(default=None, init=False)
    """How long the claim being made should take to send (:meth:`claim_span`)."""
    send_pace: SendPace = field(default_factory=SendPace, init=False)
    """Measured commit latency and time per send, where fresh slots are placed."""
    last_chunk: bool = field(default=False, init=False)
    """Sending the batch's last chunk: its final record also hands the senders back."""
    senders_released: bool = field(default=False, init=False)
    takeover: Takeover = field(default_factory=lambda: Takeover(grace=TAKEOVER_GRACE))
    """Dead workers (their advisory lock gone) whose senders and rows this one adopts."""
    presence: Presence | None = field(default=None, init=False)
    watched_at: datetime | None = field(default=None, init=False)
    """When this worker last asked, between its groups, which workers are dead."""
    _farewell: weakref.finalize | None = field(default=None, init=False, repr=False)  # type: ignore[type-arg]

    def claim_size(self, batch: int | None = None) -> int:
        """How many rows the next claim takes: ``batch``, less when this worker is slow."""
        size = batch or self.settings.worker.batch
        if self.pace is None:
            return size
        return max(1, min(size, int(self.pace * self.settings.worker.lease_seconds / 2)))

    def claim_span(self, size: int) -> timedelta:
        """How long a claim of ``size`` should take to send: what this worker needs for it at
        its measured pace (at least :data:`SHORTEST_SPAN`; :data:`FIRST_SPAN` before its
        pace is known), at most half a lease. Each paced sender is leased for what it can
        send in this span, so a claim is spread over as many senders as keep the worker
        busy: with each sender filled for half a lease, a claim of ``batch`` took half a
        lease whatever the worker could do (``batch`` 500, 1.5 s: ~330 msg/s a worker with
        senders to spare)."""
        needed = FIRST_SPAN if self.pace is None else timedelta(seconds=size / self.pace)
        return min(self.half_lease, max(SHORTEST_SPAN, needed))

    def nap(self, seconds: float) -> None:
        """Sleep until a send slot; counted apart from the worker's working time (a share
        of it for each of ``concurrency`` senders: one thread's sleep is not the worker's
        while the others send)."""
        self.sleep(seconds)
        self.slept += seconds / self.settings.worker.concurrency

    @property
    def clock(self) -> Clock:
        return self.runtime.clock

    def run_once(self, *, batch: int | None = None) -> BatchReport:
        """Claim one batch and see it through; an empty report when nothing is due."""
        started = self.clock.now()
        slept = self.slept
        self._hold_presence()
        size = self.claim_size(batch)
        self.span = self.claim_span(size)
        with self.runtime.transaction() as session:
            adopt = (
                self.takeover.adoptable(session, worker_id=self.worker_id, now=started)
                if self.presence is not None
                else None
            )
            claimed = claim_due(
                session,
                worker_id=self.worker_id,
                now=started,
                limit=size,
                lease=timedelta(seconds=self.settings.worker.lease_seconds),
                capacity=self._capacity,
                adopt=adopt,
            )
            claimed = send_from_now(session, claimed, channels=self.channels)
        report = BatchReport(claimed=len(claimed))
        if not claimed:
            return report
        self.senders_released = False
        try:
            self._see_through(claimed, report)
        finally:
            self.last_chunk = False
            if not self.senders_released:  # else done in the batch's last transaction
                with self.runtime.transaction() as session:
                    release_senders(session, worker_id=self.worker_id)
        self._measure_pace(report, since=started, slept=self.slept - slept)
        return report

    def _hold_presence(self) -> None:
        """Hold this worker's advisory lock (PostgreSQL), taken again if its connection
        was lost, before anything is claimed: claims are made only while it is held."""
        if not self.settings.worker.presence:
            return
        if self.presence is None:
            self.presence = hold_presence(self.runtime.engine, worker_id=self.worker_id)
            if self.presence is not None:  # a worker dropped without leave() lets go too
                self._farewell = weakref.finalize(self, self.presence.close)
        else:
            self.presence.hold()

    def leave(self) -> None:
        """Stop being a worker: the lock released and this worker unlisted."""
        if self._farewell is not None:
            self._farewell.detach()  # one finaliser a presence, not one a run() kept forever
            self._farewell = None
        if self.presence is not None:
            self.presence.close()
            self.presence = None

    def _capacity(self, channel: str, sender: str | None) -> float | None:
        """Messages ``sender`` can take in half a lease (``None``: unpaced, never leased)."""
        # A sender since replaced is paced (and leased) as the one its texts now go from.
        kind = ChannelKind(channel)
        if kind in self.channels.kinds:
            sender = self.channels.sender_now(kind, sender)
        rate = self.rate_of(sender_key(channel, sender), channel, sender)
        if rate is None:
            return None
        span = self.span or self.half_lease
        # At least one message: a sender leased for less would be leased and left unused.
        return max(1.0, rate * (1 - self.settings.worker.pace_margin) * span.total_seconds())

    def _see_through(self, claimed: list[Claimed], report: BatchReport) -> None:
        claimed = self._settle_doubts_first(claimed, report)
        by_sender: dict[str, list[Claimed]] = defaultdict(list)
        for message in claimed:
            by_sender[sender_key(message.channel, message.sender)].append(message)
        planned = plan_batch(self, by_sender, report)
        # Interleave senders by slot, so a paced sender never holds up the others.
        planned.sort(key=lambda p: (p[0] is not None, p[0] or datetime.min.replace(tzinfo=UTC)))
        parts = list(chunks(planned, span=timedelta(seconds=1), size=CHUNK))
        for index, part in enumerate(parts):
            last = index == len(parts) - 1 and self.settings.worker.concurrency <= 1
            # Not with both paths in it: the first path's last record would release too early.
            self.last_chunk = last and len({self.reconcilable(m.channel) for _, m in part}) == 1
            report.add(send_chunk(self, [m for _, m in part], slots=[s for s, _ in part]))

    def _settle_doubts_first(self, claimed: list[Claimed], report: BatchReport) -> list[Claimed]:
        """The batch's sends in doubt (a dead worker's adopted group, a lease run out while
        ``calling``) settled and recorded before any slot is reserved: one look-up for the
        batch; those found at the gateway take no send slot and wait for no group before
        them; those it has no record of are sent once, in turn, no longer in doubt."""
        if not any(m.in_doubt_since is not None for m in claimed):
            return claimed
        settled, rest = settle_doubts(self, [(m, None) for m in claimed])
        report.add(self.record(settled, calling=[])[0])
        return [m for m, _ in rest]

    def _measure_pace(self, report: BatchReport, *, since: datetime, slept: float) -> None:
        handled = report.sent + report.dead + report.retried + report.in_doubt
        working = (self.clock.now() - since).total_seconds() - slept
        if handled and working > 0:
            self.pace = handled / working

    def run(
        self,
        *,
        batch: int | None = None,
        stop: Callable[[], bool] = lambda: False,
        once: bool = False,
    ) -> BatchReport:
        """Loop until ``stop()`` (or, with ``once``, until nothing is due)."""
        try:
            return self._loop(batch=batch, stop=stop, once=once)
        finally:
            self.leave()

    def _loop(self, *, batch: int | None, stop: Callable[[], bool], once: bool) -> BatchReport:
        total = BatchReport()
        pause = self.settings.worker.poll_seconds
        while not stop():
            try:
                report = self.run_once(batch=batch)
            except (OperationalError, PresenceLost):
                # The database went away (restart, failover), or this worker's lock did.
                # Nothing is lost: claimed rows stay ``sending`` until their lease expires
                # (or their worker is adopted) and are then re-claimed with the same
                # idempotency keys. Wait, then reconnect (pool pre-ping).
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

    def rate_of(self, key: str, channel: str, sender: str | None) -> float | None:
        configured = self.settings.sender_rates.get(key)
        if configured:
            return configured
        try:
            limit = self.channels.rate_limit(ChannelKind(channel), sender)
        except InvalidInput:
            return None
        return limit.messages_per_second if limit else None

    def reconcilable(self, channel: str) -> bool:
        try:
            return self.channels.reconciler(ChannelKind(channel)) is not None
        except (InvalidInput, ValueError):
            return False

    def attempt_at(self, message: Claimed, slot: datetime | None) -> Outcome:
        """Settle a doubt, then call (the caller waited for ``slot``)."""
        if self.presence is not None and not self.presence.intact():
            raise PresenceLost(f"worker {self.worker_id} lost its presence lock mid-batch")
        if message.in_doubt_since is not None:
            settled = self._reconcile(message, slot)
            if settled is not None:
                return settled
        return self._call(message, slot)

    def late(self, slot: datetime) -> bool:
        """Woke too late for ``slot``: sending now could bunch against the next slots."""
        tolerance = timedelta(milliseconds=self.settings.worker.late_tolerance_ms)
        return self.clock.now() > slot + tolerance

    @property
    def half_lease(self) -> timedelta:
        """How far ahead slots are reserved: rows not sent by then go back to the queue."""
        return timedelta(seconds=self.settings.worker.lease_seconds / 2)

    def sender_rate(self, message: Claimed) -> float:
        key = sender_key(message.channel, message.sender)
        return self.rate_of(key, message.channel, message.sender) or 1.0

    def _reconcile(self, message: Claimed, slot: datetime | None) -> Outcome | None:
        settled, _ = settle_doubts(self, [(message, slot)])
        return settled[0] if settled else None

    def interval(self, rate: float) -> timedelta:
        return timedelta(seconds=1.0 / (rate * (1 - self.settings.worker.pace_margin)))

    def _call(self, message: Claimed, slot: datetime | None) -> Outcome:
        if ChannelKind(message.channel) not in self.channels.kinds:
            return Outcome(message, dead=DeadReason.NO_ADAPTER, slot_at=slot)
        try:
            outbound = self.outbound(message)
            result = self.channels.send(outbound)
        except ChannelError as exc:
            return Outcome(message, error=exc, slot_at=slot)
        except InvalidInput as exc:
            # The adapter refused the row itself (parts missing): named, never "no adapter".
            refused = ChannelError(FailureReason.REJECTED, permanent=True, detail=str(exc))
            return Outcome(message, error=refused, slot_at=slot)
        return Outcome(message, result=result, slot_at=slot)

    def outbound(self, message: Claimed) -> OutboundMessage:
        """The channel's view of a row: addresses, text, and the parts each channel needs."""
        return outbound_message(
            message,
            base_url=self.public_base_url,
            unsubscribe_url=self.unsubscribe_link(message, self.clock.now())
            if message.channel == ChannelKind.EMAIL
            else None,
        )

    def _backoff(self, attempt: int) -> timedelta:
        return backoff_delay(
            attempt=attempt,
            base=self.settings.worker.backoff_base_seconds,
            cap=self.settings.worker.backoff_cap_seconds,
            rng=self.rng,
        )

    def record(
        self,
        outcomes: list[Outcome],
        *,
        calling: Sequence[Claimed],
        plan: PlanGroup | None = None,
    ) -> tuple[BatchReport, set[int]]:
        """Write ``outcomes`` and mark ``calling`` in one transaction (:func:`record_chunk`);
        returns the ids of ``calling`` still this worker's to send."""
        report, sendable, released = record_chunk(
            self.runtime,
            clock=self.clock,
            worker_id=self.worker_id,
            budget=self.settings.budget,
            lease=timedelta(seconds=self.settings.worker.lease_seconds),
            backoff=self._backoff,
            outcomes=outcomes,
            calling=calling,
            plan=plan,
            last_chunk=self.last_chunk,
        )
        self.senders_released |= released  # only once the commit is through
        self.watch_peers()
        return report, sendable

    def watch_peers(self) -> None:
        """Between groups, at most every :data:`WATCH_EVERY`: which workers are dead, so the
        takeover's grace runs while this batch is sent and the next claim adopts them (a
        death was seen only at a claim, and adopted at the claim after the grace)."""
        if self.presence is None:
            return
        now = self.clock.now()
        if self.watched_at is not None and now - self.watched_at < WATCH_EVERY:
            return
        self.watched_at = now
        dead = self.presence.dead_peers()
        if dead is not None:
            self.takeover.notice(dead, now=now)
