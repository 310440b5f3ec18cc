"""Assembling outreach for a process: the scheduler's context, the reply router's context,
and the in-process loop ``careloop serve`` runs on the embedded default.

Edges call these; each builds its pieces from settings once, nothing at import time. The
worker alone is :mod:`careloop.compose.worker` (it needs neither the engine nor the workflows).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta

from careloop.channels.portal import PortalInbox
from careloop.channels.registry import ChannelRegistry
from careloop.compose.worker import build_worker, default_worker_id
from careloop.conversations.inbound import InboundContext
from careloop.conversations.journeys import run_tick as tick_and_hand_off
from careloop.outreach.config import outreach_settings
from careloop.outreach.eligibility import (
    AppointmentEligibility,
    CombinedEligibility,
    EligibilitySource,
    ProgramsEligibility,
)
from careloop.outreach.program import OutreachProgram
from careloop.outreach.scheduler import TickContext, TickReport, program_map
from careloop.outreach.service import load_outreach_programs
from careloop.runtime import Runtime

log = logging.getLogger("careloop.outreach")


def default_eligibility() -> EligibilitySource:
    return CombinedEligibility((ProgramsEligibility(), AppointmentEligibility()))


def tick_context(
    rt: Runtime,
    *,
    programs: Sequence[OutreachProgram] | None = None,
    eligibility: EligibilitySource | None = None,
    seed: int | None = None,
) -> TickContext:
    own, channels = outreach_settings(rt.settings)
    return TickContext(
        clock=rt.clock,
        programs=list(programs) if programs is not None else load_outreach_programs(own),
        eligibility=eligibility or default_eligibility(),
        settings=own,
        channels=channels,
        seed=seed,
    )


def inbound_context(
    rt: Runtime, *, programs: Sequence[OutreachProgram] | None = None
) -> InboundContext:
    """What the reply router needs: the clock, the journeys (by name) and outreach settings."""
    own, _ = outreach_settings(rt.settings)
    return InboundContext(
        clock=rt.clock,
        programs=program_map(
            list(programs) if programs is not None else load_outreach_programs(own)
        ),
        settings=own,
    )


def run_tick(rt: Runtime, *, ctx: TickContext, now: datetime | None = None) -> TickReport:
    """One scheduler pass and its hand-offs, in its own transaction."""
    with rt.transaction() as session:
        return tick_and_hand_off(session, ctx=ctx, now=now or rt.clock.now())


def start_in_process(
    rt: Runtime,
    *,
    tick_every: timedelta = timedelta(minutes=5),
    channels: ChannelRegistry | None = None,
    portal_inbox: PortalInbox | None = None,
) -> tuple[threading.Thread, threading.Event]:
    """The scheduler and one worker in a background thread (the embedded default).

    Returns the thread and the event that stops it. The worker is the only one on SQLite,
    which is what SQLite's single writer needs.
    """
    stop = threading.Event()
    ctx = tick_context(rt)
    worker = build_worker(
        rt,
        worker_id=f"{default_worker_id()}-serve",
        channels=channels,
        portal_inbox=portal_inbox,
    )
    worker.sleep = stop.wait  # type: ignore[assignment]

    def loop() -> None:
        next_tick = rt.clock.now()
        while not stop.is_set():
            try:
                if rt.clock.now() >= next_tick:
                    run_tick(rt, ctx=ctx)
                    next_tick = rt.clock.now() + tick_every
                report = worker.run_once()
            except Exception:
                # The service keeps answering HTTP; the failure is logged loudly and the
                # loop retries after a pause (each pass is its own transaction).
                log.exception("outreach loop failed; retrying in 30 s")
                stop.wait(30)
                continue
            if report.claimed == 0:
                stop.wait(worker.settings.worker.poll_seconds)

    thread = threading.Thread(target=loop, name="careloop-outreach", daemon=True)
    thread.start()
    return thread, stop
