"""Which journey steps are due: branches and anchors skip, escalation hands off a call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, inspect, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from careloop.db import any_of
from careloop.events import EventKind, list_events, record_event
from careloop.models import Enrollment
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.handoffs import CallTask
from careloop.outreach.held_enrollments import held_enrollments, write_held
from careloop.outreach.journey import (
    JourneyFacts,
    anchor_passed,
    branch_applies,
    should_escalate,
    step_due_at,
)
from careloop.outreach.program import OutreachProgram, Step, Wait, WaitOrigin
from careloop.outreach.results_sql import bulk_update
from careloop.outreach.states import ACTIVE_ENROLLMENT_STATES, Arm
from careloop.outreach.tick_context import ProgramRun

ESCALATION_STEP = "escalation-call"
ACTIVE_STATE_NAMES = frozenset(str(s) for s in ACTIVE_ENROLLMENT_STATES)
# What the steps move on an enrollment (the rest changes with its lifecycle, rarely).
STEP_COLUMNS = ("next_step", "step_due_at", "last_step_at", "unanswered", "escalated_at")
# From this many moved enrollments on, they are written in one statement.
WRITE_STEPS_FROM = 2


@dataclass(frozen=True, slots=True)
class DueStep:
    enrollment: Enrollment
    step: Step


def journey_facts(
    session: Session, enrollment: Enrollment, program: OutreachProgram
) -> JourneyFacts:
    events: dict[str, datetime] = {}
    wanted = {s.wait.event for s in program.steps if s.wait.event}
    if wanted:
        for event in list_events(
            session,
            patient_id=enrollment.patient_id,
            kinds=sorted(wanted),
            since=enrollment.enrolled_at,
        ):
            events[event.kind] = event.occurred_at
    return JourneyFacts(
        enrolled_at=enrollment.enrolled_at,
        anchors=lifecycle.anchors_of(enrollment),
        last_step_at=enrollment.last_step_at,
        last_reply_at=enrollment.last_reply_at,
        event_times=events,
        risk_band=(enrollment.fields or {}).get("noshow_risk_band"),
    )


def skip_step(
    session: Session, run: ProgramRun, *, enrollment: Enrollment, step: Step, why: str
) -> None:
    """Record a step passed over (and count it): the journey moves on without a message."""
    event = lifecycle.enrollment_event(
        EventKind.STEP_SKIPPED,
        enrollment=enrollment,
        now=run.now,
        payload={"step": step.id, "why": why},
    )
    record_event(session, clock=run.ctx.clock, **asdict(event))
    run.count("skipped")


def advance(
    session: Session,
    *,
    enrollment: Enrollment,
    program: OutreachProgram,
    now: datetime,
    sent_at: datetime | None,
) -> None:
    """Move to the next step and compute when it is due (None: journey done, still followed)."""
    enrollment.next_step += 1
    if sent_at is not None:
        enrollment.last_step_at = sent_at
    if enrollment.next_step >= len(program.steps):
        pending = should_escalate(
            escalation=program.escalation,
            unanswered=enrollment.unanswered,
            escalated=enrollment.escalated_at is not None,
        )
        last = enrollment.last_step_at or now
        enrollment.step_due_at = last + program.escalation.wait if pending else None
        return
    facts = journey_facts(session, enrollment, program)
    nxt = program.steps[enrollment.next_step]
    due = step_due_at(nxt, facts)
    # An event wait whose event has not happened yet is re-checked daily.
    enrollment.step_due_at = due if due is not None else now + timedelta(days=1)


def _escalate_unanswered(
    session: Session, run: ProgramRun, *, enrollment: Enrollment
) -> DueStep | None:
    """Escalate an enrollment whose sends went unanswered; the voice step when the program
    leaves a voice message."""
    program = run.program
    if not should_escalate(
        escalation=program.escalation,
        unanswered=enrollment.unanswered,
        escalated=enrollment.escalated_at is not None,
    ):
        return None
    escalate(run, enrollment=enrollment)
    run.count("escalated")
    return DueStep(enrollment, voice_step(program)) if program.escalation.voice_message else None


def collect_due(session: Session, run: ProgramRun, *, limit: int) -> list[DueStep]:
    """Due steps, after skipping the ones whose branch or anchor rules them out.

    The enrollments this transaction holds unwritten (``enrollment.enroll_rows(hold=True)``)
    are due as if read from the table: merged in the query's order, within ``limit``."""
    program, now = run.program, run.now
    held = [
        e
        for e in held_enrollments(session, program=program.name)
        if e.arm == str(Arm.OUTREACH)
        and e.state in ACTIVE_STATE_NAMES
        and e.step_due_at is not None
        and e.step_due_at <= now
    ]
    rows: Sequence[Enrollment] = session.scalars(
        select(Enrollment)
        .where(
            Enrollment.program == program.name,
            Enrollment.arm == str(Arm.OUTREACH),
            Enrollment.state.in_([str(s) for s in ACTIVE_ENROLLMENT_STATES]),
            Enrollment.step_due_at.is_not(None),
            Enrollment.step_due_at <= now,
        )
        .order_by(Enrollment.step_due_at, Enrollment.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    if held:
        rows = sorted([*rows, *held], key=lambda e: (e.step_due_at, e.id))[:limit]
    due: list[DueStep] = []
    for enrollment in rows:
        facts = journey_facts(session, enrollment, program)
        last_done = enrollment.next_step >= len(program.steps)
        if last_done:
            # Only escalation can be left: no reply since the last send.
            enrollment.step_due_at = None
        voice = _escalate_unanswered(session, run, enrollment=enrollment)
        if voice is not None:
            due.append(voice)
        if last_done or voice is not None:
            continue
        while enrollment.next_step < len(program.steps):
            step = program.steps[enrollment.next_step]
            at = step_due_at(step, facts)
            if at is not None and at > now:
                enrollment.step_due_at = at
                break
            if anchor_passed(step, facts, now=now):
                why = "anchor-passed"
            elif not branch_applies(step, facts):
                why = f"branch-{step.when}"
            elif at is None and step.wait.event:
                enrollment.step_due_at = now + timedelta(days=1)
                break
            else:
                due.append(DueStep(enrollment, step))
                break
            skip_step(session, run, enrollment=enrollment, step=step, why=why)
            enrollment.next_step += 1
        else:
            enrollment.step_due_at = None
    return due


def voice_step(program: OutreachProgram) -> Step:
    return Step(
        id=ESCALATION_STEP,
        message=str(program.escalation.voice_message),
        wait=Wait(WaitOrigin.PREVIOUS),
        channel="voice",
    )


def escalate(run: ProgramRun, *, enrollment: Enrollment) -> None:
    """N digital sends went unanswered: a call task for the care team (handed off)."""
    program = run.program
    enrollment.escalated_at = run.now
    if program.escalation.call_task:
        run.report.call_tasks.append(
            CallTask(
                patient_id=enrollment.patient_id,
                program=program.name,
                rule_id=f"outreach-call:{program.name}",
                title=f"Call the patient: {program.title}",
                summary=(
                    f"{enrollment.unanswered} messages of the {program.title} journey went "
                    "unanswered; please call."
                ),
            )
        )


def write_step_state(session: Session) -> int:
    """Write the step state of every enrollment whose steps moved in one statement (``UPDATE
    ... FROM jsonb_to_recordset(...)`` on PostgreSQL, executemany elsewhere) instead of the
    ORM's flush, which writes each enrollment alone when their changed columns differ (a
    slice's ~430 one-row UPDATEs). Enrollments with other changes are left to the flush.
    The enrollments held unwritten are written first, each once with its step as it stands
    (``held_enrollments.write_held``). Returns how many existing enrollments were updated."""
    write_held(session)
    moved = []
    for obj in session.dirty:
        if not isinstance(obj, Enrollment):
            continue
        state = inspect(obj)
        changed = set(state.committed_state)
        if changed and changed.issubset(STEP_COLUMNS) and set(STEP_COLUMNS) <= state.dict.keys():
            moved.append(obj)
    if len(moved) < WRITE_STEPS_FROM:
        return 0
    moved.sort(key=lambda e: e.id)
    if session.get_bind().dialect.name == "postgresql":
        # An UPDATE ... FROM unnest locks rows in its join's order, not the array's: lock
        # them in key order first, as the one-by-one flush did, so two writers cannot deadlock.
        ids = [e.id for e in moved]
        session.connection().execute(  # Core: no autoflush of the rows being batched
            select(Enrollment.id)
            .where(any_of(session, Enrollment.id, ids))
            .order_by(Enrollment.id)
            .with_for_update()
        )
    bulk_update(
        session,
        cast(Table, Enrollment.__table__),
        key={"enrollment_id": Enrollment.__table__.c.id},
        columns=list(STEP_COLUMNS),
        rows=[{"enrollment_id": e.id, **{c: getattr(e, c) for c in STEP_COLUMNS}} for e in moved],
        where=true(),
        constants={},
    )
    for e in moved:
        for column in STEP_COLUMNS:
            set_committed_value(e, column, getattr(e, column))
    return len(moved)
