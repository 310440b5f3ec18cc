"""One chunk's results written and its next sends marked, in one transaction.

The worker's record step (see :mod:`careloop.outreach.worker`): the previous sends' outcomes,
the next group marked ``calling``, the contact budget's admission under the per-patient
locks the same statement took, the slots planned last, and the senders handed back once
nothing is left to call. Kept apart from the worker's loop so the order of these writes,
which the no-double-send guarantee rests on, reads in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from careloop.clock import Clock
from careloop.outreach.budget import admit, contact_budget
from careloop.outreach.claims import Claimed
from careloop.outreach.config import BudgetSettings
from careloop.outreach.results import (
    BatchReport,
    Outcome,
    locks_budget,
    record_group,
    record_outcomes,
    release,
)
from careloop.outreach.sender_leases import release_senders
from careloop.outreach.states import DeadReason
from careloop.runtime import Runtime

PlanGroup = Callable[[Session, set[int]], set[int]]
"""Reserves slots for the ids it is given (in the record's transaction); returns those that
got one."""


def record_chunk(
    runtime: Runtime,
    *,
    clock: Clock,
    worker_id: str,
    budget: BudgetSettings,
    lease: timedelta,
    backoff: Callable[[int], timedelta],
    outcomes: list[Outcome],
    calling: Sequence[Claimed],
    plan: PlanGroup | None,
    last_chunk: bool,
) -> tuple[BatchReport, set[int], bool]:
    """Write ``outcomes`` and mark ``calling`` in one transaction.

    Returns the report, the ids of ``calling`` still this worker's to send (``plan``, run
    last with those ids, keeps the ones that got a slot and hands the rest back to the
    queue), and whether the senders were handed back (the last chunk, nothing to call).
    """
    if not outcomes and not calling and plan is None:
        return BatchReport(), set(), False
    with runtime.transaction() as session:
        now = clock.now()
        report, ours = record_group(
            session,
            outcomes=outcomes,
            calling=calling,
            worker_id=worker_id,
            now=now,
            lease=lease,
            backoff=backoff,
        )
        admitted = admit(
            session,
            messages=[
                (m.id, m.patient_id, m.recipient_kind, m.extra) for m in calling if m.id in ours
            ],
            now=now,
            budget=contact_budget(budget),
            channels={m.id: m.channel for m in calling},
            # by record_group, for all of ``calling``; the contacts marked in the same statement
            locked=locks_budget(session),
            marked=locks_budget(session),
        )
        over = admitted.refused
        if admitted.deferred:
            # Too close to another contact: due when the gap ends, not an attempt (its next
            # claim checks quiet hours again, so a gap ending at night waits for the morning).
            for m in calling:
                if m.id in admitted.deferred:
                    release(session, messages=[m], at=admitted.deferred[m.id], worker_id=worker_id)
            report.deferred += len(admitted.deferred)
        if over:
            dead = [Outcome(m, dead=DeadReason.OVER_BUDGET) for m in calling if m.id in over]
            report.add(
                record_outcomes(
                    session,
                    outcomes=dead,
                    worker_id=worker_id,
                    now=now,
                    backoff=lambda _: timedelta(0),
                )
            )
        sendable = ours - admitted.held
        if plan is not None:
            # Last, so the sender rows are locked for the commit only and the slots are
            # placed as close as can be to the moment they become this worker's.
            sendable = plan(session, sendable)
        hand_back = last_chunk and not calling and plan is None
        if hand_back:  # nothing left to call
            release_senders(session, worker_id=worker_id)
    return report, sendable, hand_back
