"""Assembling outreach for a process: the scheduler's context, a worker, and the in-process
loop ``careloop serve`` runs on the embedded default.

Edges call these; each builds its pieces from settings once, nothing at import time.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from careloop.channels.portal import PortalInbox
from careloop.channels.registry import ChannelRegistry, build_channels
from careloop.crypto import signing_key
from careloop.governance.unsubscribe import make_unsubscribe_token, unsubscribe_url
from careloop.outreach.config import outreach_settings
from careloop.outreach.eligibility import (
    AppointmentEligibility,
    CombinedEligibility,
    EligibilitySource,
    ProgramsEligibility,
)
from careloop.outreach.portal_inbox import DatabasePortalInbox
from careloop.outreach.ports import CareTeam
from careloop.outreach.program import OutreachProgram
from careloop.outreach.worker import Claimed, Worker
from careloop.runtime import Runtime

if TYPE_CHECKING:  # the scheduler pulls in the engine (NumPy, SciPy): workers do not need it
    from careloop.conversations.inbound import InboundContext
    from careloop.outreach.scheduler import TickContext, TickReport


log = logging.getLogger("careloop.outreach")


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def default_eligibility() -> EligibilitySource:
    return CombinedEligibility((ProgramsEligibility(), AppointmentEligibility()))


def tick_context(
    rt: Runtime,
    *,
    care_team: CareTeam,
    programs: Sequence[OutreachProgram] | None = None,
    eligibility: EligibilitySource | None = None,
    seed: int | None = None,
) -> TickContext:
    from careloop.outreach.scheduler import TickContext
    from careloop.outreach.service import load_outreach_programs

    own, channels = outreach_settings(rt.settings)
    return TickContext(
        clock=rt.clock,
        programs=list(programs) if programs is not None else load_outreach_programs(own),
        eligibility=eligibility or default_eligibility(),
        care_team=care_team,
        settings=own,
        channels=channels,
        seed=seed,
    )


def inbound_context(rt: Runtime, *, care_team: CareTeam, tick_ctx: TickContext) -> InboundContext:
    from careloop.conversations.inbound import InboundContext
    from careloop.outreach.scheduler import program_map

    return InboundContext(
        clock=rt.clock,
        care_team=care_team,
        programs=program_map(tick_ctx.programs),
        settings=tick_ctx.settings,
    )


def run_tick(rt: Runtime, *, ctx: TickContext, now: datetime | None = None) -> TickReport:
    """One scheduler pass in its own transaction."""
    from careloop.outreach.scheduler import tick

    with rt.transaction() as session:
        return tick(session, ctx=ctx, now=now or rt.clock.now())


def build_worker(
    rt: Runtime,
    *,
    worker_id: str | None = None,
    channels: ChannelRegistry | None = None,
    portal_inbox: PortalInbox | None = None,
) -> Worker:
    """A worker over the configured channels; portal messages go to the database inbox
    (the outbox rows themselves) unless an inbox is passed, as tests and the simulator do."""
    own, channel_settings = outreach_settings(rt.settings)
    registry = channels or build_channels(
        channel_settings, clock=rt.clock, portal_inbox=portal_inbox or DatabasePortalInbox(rt)
    )
    base = rt.settings.security.public_base_url
    key = signing_key(rt.settings)

    def unsubscribe(message: Claimed, now: datetime) -> str:
        token = make_unsubscribe_token(
            key=key, patient_id=message.patient_id, now=now, channel="email", purpose="*"
        )
        return unsubscribe_url(base_url=base, token=token)

    return Worker(
        runtime=rt,
        channels=registry,
        settings=own,
        worker_id=worker_id or default_worker_id(),
        public_base_url=base,
        unsubscribe_link=unsubscribe,
    )


def start_in_process(
    rt: Runtime,
    *,
    care_team: CareTeam,
    tick_every: timedelta = timedelta(minutes=5),
    channels: ChannelRegistry | None = None,
    portal_inbox: PortalInbox | None = None,
) -> tuple[threading.Thread, threading.Event]:
    """The scheduler and one worker in a background thread (the embedded default).

    Returns the thread and the event that stops it. The worker is the only one on SQLite,
    which is what SQLite's single writer needs.
    """
    stop = threading.Event()
    ctx = tick_context(rt, care_team=care_team)
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
