"""The scheduler: enroll the newly eligible, run due journey steps, queue messages.

One :func:`tick` is one transaction owned by the caller. For each due step it asks the
engine for a decision (which enforces consent per purpose and channel, a usable contact
point, quiet hours in the patient's zone and the contact budget across programs), renders
the chosen variant from approved content, and writes decision and outbox row together: a
crash leaves both or neither. The worker re-checks consent right before sending.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.clock import FrozenClock
from careloop.content.service import approved_library
from careloop.models import Enrollment, FhirResource
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.completion import completed_patients
from careloop.outreach.due_steps import DueStep, collect_due, write_step_state
from careloop.outreach.program import OutreachProgram
from careloop.outreach.states import ACTIVE_ENROLLMENT_STATES, Arm, CloseReason
from careloop.outreach.step_messages import run_steps, spec_for
from careloop.outreach.tick_context import ProgramRun, TickContext, TickReport
from careloop.personalize.service import (
    learn_from_events,
)
from careloop.programs.service import completion_status

__all__ = ["TickContext", "TickReport", "program_map", "tick"]


def tick(session: Session, *, ctx: TickContext, now: datetime, limit: int = 5000) -> TickReport:
    """Enroll, follow outcomes, and queue every step due at ``now`` (one transaction)."""
    report = TickReport()
    library = ctx.library if ctx.library is not None else approved_library(session)
    # Highest priority first: when programs compete for a patient's contact budget, the
    # more important one decides (and queues) before the others see the budget.
    for program in by_priority(ctx.programs):
        run = ProgramRun(ctx=ctx, program=program, now=now, library=library, report=report)
        # Learn first from every response the event log holds (late ones included), so this
        # tick's decisions already use them.
        if ctx.learn:
            learn_from_events(session, clock=FrozenClock(now), program=spec_for(program, None))
        _enroll_eligible(session, run)
        if ctx.follow_outcomes:
            _follow_outcomes(session, run)
        groups: dict[str | None, list[DueStep]] = defaultdict(list)
        for item in collect_due(session, run, limit=limit):
            groups[item.step.channel].append(item)
        for forced, items in groups.items():
            run_steps(session, run, items=items, forced_channel=forced)
        write_step_state(session)  # the steps skipped or put off when none was sent
    return report


def _enroll_eligible(session: Session, run: ProgramRun) -> None:
    candidates = list(run.ctx.eligibility(session, program=run.program, now=run.now))
    # Held unwritten until their first step is decided (one row version each), unless
    # outcomes are followed next: that reads the program's enrollments from the table.
    for created in lifecycle.enroll_rows(
        session,
        clock=run.ctx.clock,
        program=run.program,
        candidates=candidates,
        now=run.now,
        hold=not run.ctx.follow_outcomes,
    ):
        run.count("enrolled")
        if created.arm == Arm.HOLDOUT:
            run.count("holdout")


def _active(session: Session, *, program: str) -> list[Enrollment]:
    return list(
        session.scalars(
            select(Enrollment)
            .where(
                Enrollment.program == program,
                Enrollment.state.in_([str(s) for s in ACTIVE_ENROLLMENT_STATES]),
            )
            .order_by(Enrollment.id)
        )
    )


def _follow_outcomes(session: Session, run: ProgramRun) -> None:
    """Completion for every active enrollment, holdout included; close the ones past follow-up."""
    program, now = run.program, run.now
    active = _active(session, program=program.name)
    if program.anchor == "appointment":
        active = _close_cancelled_visits(session, run, active=active)
    earliest: dict[str, datetime] = {}
    for e in active:
        earliest[e.patient_id] = min(earliest.get(e.patient_id, e.enrolled_at), e.enrolled_at)
    # The programs domain's completion criterion when the program has a source; else the
    # completion codes recorded since enrollment.
    done: Collection[str] = ()
    if program.source is not None:
        done = completion_status(session, program=program.source, enrolled_at=earliest, now=now)
    elif program.completion.codes:
        done = completed_patients(session, codes=program.completion.codes, enrolled_at=earliest)
    for e in active:
        if e.patient_id in done and lifecycle.complete(
            session, clock=run.ctx.clock, enrollment=e, now=now, how="recorded"
        ):
            run.count("completed")
    for e in active:
        expired = e.follow_until is not None and e.follow_until <= now
        if expired and lifecycle.close(
            session, clock=run.ctx.clock, enrollment=e, now=now, reason=CloseReason.JOURNEY_ENDED
        ):
            run.count("closed")


LIVE_APPOINTMENT = frozenset({"booked", "pending", "proposed", "arrived", "checked-in"})


def _close_cancelled_visits(
    session: Session, run: ProgramRun, *, active: list[Enrollment]
) -> list[Enrollment]:
    """Close the journeys of visits cancelled or moved since enrollment (their queued
    reminders die with them: nobody is reminded of a visit that is no longer there); the
    rest stay active. A moved visit is a new Appointment with a journey of its own."""
    ids = {e.episode.removeprefix("Appointment/"): e for e in active}
    if not ids:
        return active
    rows = session.execute(
        select(FhirResource.fhir_id, FhirResource.status).where(
            FhirResource.resource_type == "Appointment", FhirResource.fhir_id.in_(list(ids))
        )
    ).all()
    statuses: dict[str, str | None] = dict(rows)  # type: ignore[arg-type]
    kept = []
    for appointment_id, enrollment in ids.items():
        status = statuses.get(appointment_id)
        if status is None or status in LIVE_APPOINTMENT:
            kept.append(enrollment)
        elif lifecycle.close(
            session,
            clock=run.ctx.clock,
            enrollment=enrollment,
            now=run.now,
            reason=CloseReason.NO_LONGER_ELIGIBLE,
        ):
            run.count("closed")
    return kept


def by_priority(programs: Sequence[OutreachProgram]) -> list[OutreachProgram]:
    """Programs in decision order: higher ``priority`` first, ties in configured order."""
    return sorted(programs, key=lambda p: -p.priority)


def program_map(programs: Sequence[OutreachProgram]) -> Mapping[str, OutreachProgram]:
    return {p.name: p for p in programs}
