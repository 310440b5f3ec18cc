"""Assembling outreach for a process: the scheduler's context and the reply router's context.

The loops that run them (``careloop worker``, ``careloop serve``) are in
:mod:`careloop.compose.process`; the periodic jobs in :mod:`careloop.compose.jobs`.

Edges call these; each builds its pieces from settings once, nothing at import time. The
worker alone is :mod:`careloop.compose.worker` (it needs neither the engine nor the workflows).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

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
from careloop.records.projection import SharedFacts, share_facts
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
        app_settings=rt.settings,
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
        app_settings=rt.settings,
    )


def run_tick(
    rt: Runtime,
    *,
    ctx: TickContext,
    now: datetime | None = None,
    shared_facts: bool | SharedFacts = False,
) -> TickReport:
    """One scheduler pass and its hand-offs, in its own transaction.

    ``shared_facts``: every program in the pass reads each patient's facts from one decoding
    (a small population evaluated by many programs, as in the demo's pilot); given kept facts
    (``records.projection.keep_facts``), from the decoding of an earlier pass."""
    with rt.transaction() as session:
        if shared_facts is not False:
            share_facts(session, shared_facts if isinstance(shared_facts, SharedFacts) else None)
        return tick_and_hand_off(session, ctx=ctx, now=now or rt.clock.now())
