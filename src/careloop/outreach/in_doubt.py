"""Settling a send left in doubt by a crash: ask the gateway before sending again.

A row re-claimed after its lease expired while ``calling`` may or may not have reached the
gateway. Gateways do not deduplicate, so the gateway's own record decides: found → recorded
as sent and nothing is sent; not found → sending now sends it once; the gateway cannot tell
→ ``in-doubt``, held for review (or re-sent with ``worker.resend_in_doubt``: at most one
duplicate per crash).

A group in doubt (a dead worker's, adopted at once) is asked about with its look-ups in
flight together (:data:`LOOKUPS_IN_FLIGHT`): a real gateway's list answers in ~0.1-0.3 s, so
asked one after another a group of 50 held the adopting worker, and every sender it was
sending for, for 5-15 s.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from careloop.channels.errors import ChannelError
from careloop.channels.interface import Reconciler
from careloop.channels.messages import ChannelKind, OutboundMessage, SendResult
from careloop.channels.registry import ChannelRegistry
from careloop.errors import InvalidInput
from careloop.outreach.claims import Claimed, recorded_provider_ids
from careloop.outreach.config import WorkerSettings
from careloop.outreach.results import Outcome
from careloop.outreach.states import DeadReason
from careloop.runtime import Runtime

LOOKUPS_IN_FLIGHT = 8
"""Gateway look-ups a group in doubt has in flight at once: reads, far under Twilio's
concurrent-request limit per account (100), and enough that a group of a few dozen is
settled in a few round trips."""

Lookup = tuple[Reconciler, OutboundMessage, datetime]


def settle_many(
    messages: Sequence[tuple[Claimed, datetime | None]],
    *,
    channels: ChannelRegistry,
    runtime: Runtime,
    worker: WorkerSettings,
    outbound: Callable[[Claimed], OutboundMessage],
    matched: dict[str, int],
    between: Callable[[], None] = lambda: None,
) -> dict[int, Outcome | None]:
    """Each message in doubt (with its planned slot) settled: its outcome, or ``None`` when
    the gateway has no record of it (so sending now sends it once). The gateway is asked once
    per message, up to :data:`LOOKUPS_IN_FLIGHT` at a time; which of its records are already
    some message's is one look-up for the whole group (a dead worker's group, adopted at
    once, was one transaction per message). ``matched`` maps the gateway records this
    worker has already matched to the message each was matched to (maybe not committed
    yet): matched in order, never one record to two messages; a record matched to this
    very message before (a settling whose record never landed) is still its own, or the
    message would be sent again. ``between`` is called as each answer comes in (the caller
    renews its lease there: a group's look-ups can outlast it)."""
    settled: dict[int, Outcome | None] = {}
    wanted: list[tuple[Claimed, datetime | None, Lookup]] = []
    for message, slot in messages:
        assert message.in_doubt_since is not None
        try:
            reconciler = channels.reconciler(ChannelKind(message.channel))
        except InvalidInput:
            settled[message.id] = Outcome(message, dead=DeadReason.NO_ADAPTER, slot_at=slot)
            continue
        if reconciler is None:
            held = Outcome(message, in_doubt=True, slot_at=slot)
            settled[message.id] = None if worker.resend_in_doubt else held
            continue
        since = message.in_doubt_since - timedelta(seconds=worker.reconcile_slack_s)
        wanted.append((message, slot, (reconciler, outbound(message), since)))
    asked: list[tuple[Claimed, datetime | None, list[SendResult]]] = []
    for (message, slot, _), answer in zip(
        wanted, _look_up([lookup for _, _, lookup in wanted], between), strict=True
    ):
        if isinstance(answer, ChannelError):
            settled[message.id] = Outcome(message, in_doubt=True, slot_at=slot)
        else:
            asked.append((message, slot, answer))
    ids = sorted({c.provider_id for _, _, candidates in asked for c in candidates})
    known: set[str] = set()
    if ids:
        with runtime.transaction() as session:
            known = recorded_provider_ids(session, ids)
    for message, slot, candidates in asked:
        found = next(
            (
                c
                for c in candidates
                if c.provider_id not in known
                and matched.get(c.provider_id, message.id) == message.id
            ),
            None,
        )
        if found is None:
            settled[message.id] = None
            continue
        # Not recorded until the group commits: remembered so a second message in doubt
        # cannot take the same record of the gateway, and kept with the message it was
        # matched to: if that record never lands (the database went away, the rows were
        # taken), this message found again must find its own record again.
        matched[found.provider_id] = message.id
        settled[message.id] = Outcome(message, result=found, reconciled=True, slot_at=slot)
    return settled


def _look_up(
    lookups: Sequence[Lookup], between: Callable[[], None]
) -> list[list[SendResult] | ChannelError]:
    """Each look-up's records (or the error that says the gateway cannot tell), in order;
    more than one in flight at once, ``between`` called in this thread after each answer.
    Matching stays with the caller, in order, so twins are never matched to one record."""
    answers: list[list[SendResult] | ChannelError] = []
    if len(lookups) <= 1:
        for lookup in lookups:
            answers.append(_ask(lookup))
            between()
        return answers
    with ThreadPoolExecutor(
        max_workers=min(LOOKUPS_IN_FLIGHT, len(lookups)), thread_name_prefix="in-doubt"
    ) as pool:
        for answer in pool.map(_ask, lookups):
            answers.append(answer)
            between()
    return answers


def _ask(lookup: Lookup) -> list[SendResult] | ChannelError:
    reconciler, message, since = lookup
    try:
        return reconciler.find_sent(message, since=since)
    except ChannelError as exc:
        return exc
