"""Settling a send left in doubt by a crash: ask the gateway before sending again.

A row re-claimed after its lease expired while ``calling`` may or may not have reached the
gateway. Gateways do not deduplicate, so the gateway's own record decides: found → recorded
as sent and nothing is sent; not found → sending now sends it once; the gateway cannot tell
→ ``in-doubt``, held for review (or re-sent with ``worker.resend_in_doubt``: at most one
duplicate per crash).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from careloop.channels.errors import ChannelError
from careloop.channels.messages import ChannelKind, OutboundMessage
from careloop.channels.registry import ChannelRegistry
from careloop.errors import InvalidInput
from careloop.outreach.claims import Claimed, recorded_provider_ids
from careloop.outreach.config import WorkerSettings
from careloop.outreach.results import Outcome
from careloop.outreach.states import DeadReason
from careloop.runtime import Runtime


def settle_in_doubt(
    message: Claimed,
    slot: datetime | None,
    *,
    channels: ChannelRegistry,
    runtime: Runtime,
    worker: WorkerSettings,
    outbound: Callable[[Claimed], OutboundMessage],
    matched: set[str],
) -> Outcome | None:
    """The outcome of a message in doubt, or ``None`` when the gateway has no record of it
    (so sending now sends it once). ``matched`` holds the gateway records this worker has
    already matched to another message but may not have committed yet."""
    assert message.in_doubt_since is not None
    try:
        reconciler = channels.reconciler(ChannelKind(message.channel))
    except InvalidInput:
        return Outcome(message, dead=DeadReason.NO_ADAPTER, slot_at=slot)
    if reconciler is None:
        return None if worker.resend_in_doubt else Outcome(message, in_doubt=True, slot_at=slot)
    since = message.in_doubt_since - timedelta(seconds=worker.reconcile_slack_s)
    try:
        candidates = reconciler.find_sent(outbound(message), since=since)
    except ChannelError:
        return Outcome(message, in_doubt=True, slot_at=slot)
    if not candidates:
        return None
    with runtime.transaction() as session:
        known = recorded_provider_ids(session, [c.provider_id for c in candidates])
    for found in candidates:
        if found.provider_id not in known | matched:
            # Not recorded until the group commits: remembered so a second message in doubt
            # cannot take the same record of the gateway.
            matched.add(found.provider_id)
            return Outcome(message, result=found, reconciled=True, slot_at=slot)
    return None
