"""The scheduler: enroll the newly eligible, run due journey steps, queue messages.

One :func:`tick` is one transaction owned by the caller. For each due step it asks the
engine for a decision (which enforces consent per purpose and channel, a usable contact
point, quiet hours in the patient's zone and the contact budget across programs), renders
the chosen variant from approved content, and writes decision and outbox row together: a
crash leaves both or neither. The worker re-checks consent right before sending.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from careloop.channels.settings import ChannelsSettings
from careloop.clock import Clock, FrozenClock
from careloop.content.library import Library
from careloop.content.service import approved_library, render_for_sending
from careloop.errors import CareloopError
from careloop.events import EventKind, list_events, record_event
from careloop.models import Enrollment
from careloop.outreach import enrollment as lifecycle
from careloop.outreach.audience import (
    Recipient,
    build_snapshots,
    caregiver_recipients,
    next_caregiver_window,
)
from careloop.outreach.completion import completed_patients
from careloop.outreach.config import OutreachSettings, default_sender
from careloop.outreach.eligibility import EligibilitySource
from careloop.outreach.handoffs import CallTask, CheckinInvite
from careloop.outreach.journey import (
    JourneyFacts,
    anchor_passed,
    branch_applies,
    should_escalate,
    step_due_at,
)
from careloop.outreach.outbox import NewMessage, enqueue_many
from careloop.outreach.program import OutreachProgram, Step, Wait, WaitOrigin
from careloop.outreach.states import ACTIVE_ENROLLMENT_STATES, Arm, CloseReason
from careloop.personalize.actions import ActionSpace
from careloop.personalize.engine import Decision, PopulationBatch, decide_batch
from careloop.personalize.profile import QuietHours
from careloop.personalize.service import (
    learn_from_events,
    load_history,
    load_model,
    record_decision,
)
from careloop.personalize.snapshot import EngineConfig, ProgramSpec
from careloop.programs.service import completion_status
from careloop.records.caregivers import caregivers_of
from careloop.records.service import get_patient

log = logging.getLogger("careloop.outreach")
ACTOR = "outreach"
ESCALATION_STEP = "escalation-call"


@dataclass
class TickReport:
    """What one tick did (counts only: no patient data)."""

    enrolled: int = 0
    holdout: int = 0
    decided: int = 0
    queued: int = 0
    caregiver_queued: int = 0
    blocked: int = 0
    skipped: int = 0
    escalated: int = 0
    completed: int = 0
    closed: int = 0
    by_program: dict[str, dict[str, int]] = field(default_factory=dict)
    call_tasks: list[CallTask] = field(default_factory=list, repr=False)
    checkins: list[CheckinInvite] = field(default_factory=list, repr=False)
    """Hand-offs for the workflow that ran the tick (not counts: never reported)."""

    def as_dict(self) -> dict[str, Any]:
        counts = {k: v for k, v in self.__dict__.items() if k not in _NOT_COUNTS}
        return counts | {"by_program": self.by_program}


_NOT_COUNTS = frozenset({"by_program", "call_tasks", "checkins"})


@dataclass(frozen=True)
class TickContext:
    """Everything a tick needs besides the session and time (built once at the edge)."""

    clock: Clock
    programs: Sequence[OutreachProgram]
    eligibility: EligibilitySource
    settings: OutreachSettings = field(default_factory=OutreachSettings)
    channels: ChannelsSettings = field(default_factory=ChannelsSettings)
    engine: EngineConfig = field(default_factory=EngineConfig)
    seed: int | None = None


@dataclass(frozen=True, slots=True)
class _Due:
    enrollment: Enrollment
    step: Step


def tick(session: Session, *, ctx: TickContext, now: datetime, limit: int = 5000) -> TickReport:
    """Enroll, follow outcomes, and queue every step due at ``now`` (one transaction)."""
    report = TickReport()
    library = approved_library(session)
    for program in ctx.programs:
        # Learn first from every response the event log holds (late ones included), so this
        # tick's decisions already use them.
        learn_from_events(session, clock=FrozenClock(now), program=_spec_for(program, None))
        _enroll_eligible(session, ctx=ctx, program=program, now=now, report=report)
        _follow_outcomes(session, ctx=ctx, program=program, now=now, report=report)
        due = _collect_due(session, ctx=ctx, program=program, now=now, limit=limit, report=report)
        groups: dict[str | None, list[_Due]] = defaultdict(list)
        for item in due:
            groups[item.step.channel].append(item)
        for forced, items in groups.items():
            _run_steps(
                session,
                ctx=ctx,
                program=program,
                items=items,
                forced_channel=forced,
                now=now,
                library=library,
                report=report,
            )
    return report


def _bump(report: TickReport, program: str, key: str, n: int = 1) -> None:
    setattr(report, key, getattr(report, key) + n)
    counts = report.by_program.setdefault(program, {})
    counts[key] = counts.get(key, 0) + n


def _enroll_eligible(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    now: datetime,
    report: TickReport,
) -> None:
    for candidate in ctx.eligibility(session, program=program, now=now):
        created = lifecycle.enroll(
            session,
            clock=ctx.clock,
            program=program,
            patient_id=candidate.patient_id,
            episode=candidate.episode,
            now=now,
            anchors=candidate.anchors,
            fields=candidate.fields,
            announced=candidate.announced,
        )
        if created is not None:
            _bump(report, program.name, "enrolled")
            if created.arm == Arm.HOLDOUT:
                _bump(report, program.name, "holdout")


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


def _follow_outcomes(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    now: datetime,
    report: TickReport,
) -> None:
    """Completion for every active enrollment, holdout included; close the ones past follow-up."""
    active = _active(session, program=program.name)
    if program.source is not None:
        _complete(session, ctx=ctx, program=program, active=active, now=now, report=report)
    elif program.completion.codes:
        earliest: dict[str, datetime] = {}
        for e in active:
            earliest[e.patient_id] = min(earliest.get(e.patient_id, e.enrolled_at), e.enrolled_at)
        done = completed_patients(session, codes=program.completion.codes, enrolled_at=earliest)
        for e in active:
            if e.patient_id in done and lifecycle.complete(
                session, clock=ctx.clock, enrollment=e, now=now, how="recorded"
            ):
                _bump(report, program.name, "completed")
    for e in active:
        expired = e.follow_until is not None and e.follow_until <= now
        if expired and lifecycle.close(
            session, clock=ctx.clock, enrollment=e, now=now, reason=CloseReason.JOURNEY_ENDED
        ):
            _bump(report, program.name, "closed")


def _complete(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    active: list[Enrollment],
    now: datetime,
    report: TickReport,
) -> None:
    """The programs domain's completion criterion, for every active enrollment at once."""

    earliest: dict[str, datetime] = {}
    for e in active:
        earliest[e.patient_id] = min(earliest.get(e.patient_id, e.enrolled_at), e.enrolled_at)
    done = completion_status(session, program=program.source, enrolled_at=earliest, now=now)
    for e in active:
        if e.patient_id in done and lifecycle.complete(
            session, clock=ctx.clock, enrollment=e, now=now, how="recorded"
        ):
            _bump(report, program.name, "completed")


def _facts(session: Session, enrollment: Enrollment, program: OutreachProgram) -> JourneyFacts:
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


def _skip(
    session: Session,
    *,
    ctx: TickContext,
    enrollment: Enrollment,
    step: Step,
    now: datetime,
    why: str,
) -> None:
    record_event(
        session,
        kind=EventKind.STEP_SKIPPED,
        clock=ctx.clock,
        actor=ACTOR,
        patient_id=enrollment.patient_id,
        occurred_at=now,
        subject_type="enrollment",
        subject_id=str(enrollment.id),
        program=enrollment.program,
        payload={"step": step.id, "why": why},
    )


def _advance(
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
    facts = _facts(session, enrollment, program)
    nxt = program.steps[enrollment.next_step]
    due = step_due_at(nxt, facts)
    # An event wait whose event has not happened yet is re-checked daily.
    enrollment.step_due_at = due if due is not None else now + timedelta(days=1)


def _collect_due(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    now: datetime,
    limit: int,
    report: TickReport,
) -> list[_Due]:
    """Due steps, after skipping the ones whose branch or anchor rules them out."""
    rows = session.scalars(
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
    due: list[_Due] = []
    for enrollment in rows:
        facts = _facts(session, enrollment, program)
        if enrollment.next_step >= len(program.steps):
            # Only escalation can be left: no reply since the last send.
            enrollment.step_due_at = None
            if should_escalate(
                escalation=program.escalation,
                unanswered=enrollment.unanswered,
                escalated=enrollment.escalated_at is not None,
            ):
                _escalate(
                    session, ctx=ctx, program=program, enrollment=enrollment, now=now, report=report
                )
                _bump(report, program.name, "escalated")
                if program.escalation.voice_message:
                    due.append(_Due(enrollment, _voice_step(program)))
            continue
        if should_escalate(
            escalation=program.escalation,
            unanswered=enrollment.unanswered,
            escalated=enrollment.escalated_at is not None,
        ):
            _escalate(
                session, ctx=ctx, program=program, enrollment=enrollment, now=now, report=report
            )
            _bump(report, program.name, "escalated")
            if program.escalation.voice_message:
                due.append(_Due(enrollment, _voice_step(program)))
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
                due.append(_Due(enrollment, step))
                break
            _skip(session, ctx=ctx, enrollment=enrollment, step=step, now=now, why=why)
            _bump(report, program.name, "skipped")
            enrollment.next_step += 1
        else:
            enrollment.step_due_at = None
    return due


def _voice_step(program: OutreachProgram) -> Step:
    return Step(
        id=ESCALATION_STEP,
        message=str(program.escalation.voice_message),
        wait=Wait(WaitOrigin.PREVIOUS),
        channel="voice",
    )


def _escalate(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    enrollment: Enrollment,
    now: datetime,
    report: TickReport,
) -> None:
    """N digital sends went unanswered: a call task for the care team (handed off)."""
    enrollment.escalated_at = now
    if program.escalation.call_task:
        report.call_tasks.append(
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


def _seed(ctx: TickContext, program: str, now: datetime, items: Sequence[_Due]) -> int:
    """Reproducible for the same batch at the same moment, different for any other batch
    (decision ids are drawn from this generator, so they must not repeat across batches)."""
    batch = ",".join(f"{i.enrollment.id}:{i.enrollment.next_step}:{i.step.id}" for i in items)
    text = f"{ctx.seed}|{program}|{now.isoformat()}|{batch}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _spec_for(program: OutreachProgram, forced_channel: str | None) -> ProgramSpec:
    spec = program.spec
    if forced_channel is None:
        return spec
    space = program.action_space
    return ProgramSpec(
        name=spec.name,
        purpose=spec.purpose,
        action_space=ActionSpace(
            channels=(forced_channel,),
            send_windows=space.send_windows,
            reading_levels=space.reading_levels,
            tones=space.tones,
        ),
    )


def _run_steps(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    items: list[_Due],
    forced_channel: str | None,
    now: datetime,
    library: Library,
    report: TickReport,
) -> None:
    if not items:
        return
    spec = _spec_for(program, forced_channel)
    patient_ids = [i.enrollment.patient_id for i in items]
    unique_ids = list(dict.fromkeys(patient_ids))
    snapshots, recipients = build_snapshots(
        session,
        patient_ids=unique_ids,
        purpose=program.purpose,
        now=now,
        budget_period=ctx.engine.budget_period,
    )
    by_id = {s.patient_id: s for s in snapshots}
    model = load_model(session, program=spec, config=ctx.engine)
    population = PopulationBatch.from_snapshots(
        [by_id[p] for p in patient_ids], program=spec, model=model, now=now
    )
    history = load_history(session, program=spec, patient_ids=patient_ids, model=model)
    batch = decide_batch(
        population=population,
        program=spec,
        history=history,
        model=model,
        now=now,
        rng=np.random.default_rng(_seed(ctx, program.name, now, items)),
    )
    messages: list[NewMessage] = []
    for i, item in enumerate(items):
        decision = batch.decision(i)
        record_decision(session, clock=ctx.clock, decision=decision, features=batch.features[i])
        _bump(report, program.name, "decided")
        enrollment = item.enrollment
        if decision.action is None or decision.send_at is None:
            _bump(report, program.name, "blocked")
            enrollment.step_due_at = now + timedelta(hours=ctx.settings.blocked_retry_hours)
            continue
        recipient = recipients[enrollment.patient_id]
        built = _render(
            session,
            ctx=ctx,
            program=program,
            item=item,
            decision=decision,
            recipient=recipient,
            library=library,
        )
        if built is None:
            _skip(session, ctx=ctx, enrollment=enrollment, step=item.step, now=now, why="content")
            _bump(report, program.name, "skipped")
            _advance(session, enrollment=enrollment, program=program, now=now, sent_at=None)
            continue
        messages.append(built)
        if item.step.questionnaire and built.channel == "sms":
            report.checkins.append(
                CheckinInvite(
                    patient_id=built.patient_id,
                    questionnaire=item.step.questionnaire,
                    channel=built.channel,
                    invitation=built,
                )
            )
        if program.caregiver_reminders:
            messages.extend(
                _caregiver_copies(
                    session,
                    ctx=ctx,
                    program=program,
                    item=item,
                    decision=decision,
                    library=library,
                    report=report,
                )
            )
        if item.step.id == ESCALATION_STEP:
            # The escalation call is not a journey step: the journey resumes where it was.
            enrollment.step_due_at = (
                None if enrollment.next_step >= len(program.steps) else now + timedelta(days=1)
            )
            continue
        if decision.action.channel != "portal":
            enrollment.unanswered += 1
        _advance(session, enrollment=enrollment, program=program, now=now, sent_at=decision.send_at)
    queued = enqueue_many(session, messages=messages, now=now)
    _bump(
        report,
        program.name,
        "queued",
        sum(1 for q in queued if q is not None and q.recipient_kind == "patient"),
    )


def _fields(
    ctx: TickContext, program: OutreachProgram, enrollment: Enrollment, recipient: Recipient
) -> dict[str, object]:
    fields: dict[str, object] = {
        "clinic_phone": ctx.settings.clinic_phone,
        "care_team_name": ctx.settings.care_team_name,
        "booking_link": ctx.settings.booking_link,
        "portal_link": ctx.settings.portal_link,
        "program_name": program.title,
        "checkin_link": f"{ctx.settings.portal_link.rstrip('/')}/checkin",
        # The missing-data nudge goes out after the journey's 3-day wait for a reading.
        "days_without_readings": 3,
    }
    fields.update(program.fields)
    fields.update(enrollment.fields or {})
    if "appointment_at" in fields:
        fields.setdefault("appointment_place", ctx.settings.default_place)
    if recipient.first_name:
        fields.setdefault("first_name", recipient.first_name)
    if recipient.last_name:
        fields.setdefault("last_name", recipient.last_name)
    return fields


def _render(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    item: _Due,
    decision: Decision,
    recipient: Recipient,
    library: Library,
    channel: str | None = None,
    key_suffix: str = "",
) -> NewMessage | None:
    """Render the chosen variant and address it; None when content or address is missing."""
    action = decision.action
    assert action is not None
    assert decision.send_at is not None
    chosen = channel or action.channel
    address = recipient.addresses.get(chosen)
    if address is None:
        return None
    enrollment = item.enrollment
    try:
        rendered = render_for_sending(
            session,
            message=item.step.message,
            language=decision.language,
            reading_level=action.reading_level,
            tone=action.tone,
            channel=chosen,
            fields=_fields(ctx, program, enrollment, recipient),
            locale=decision.language.replace("-", "_"),
            timezone=recipient.timezone,
            detailed_consent=False,
            library=library,
        )
    except CareloopError as exc:
        log.warning(
            "cannot render %s for %s: %s",
            item.step.message,
            chosen,
            exc.__class__.__name__,
            extra={"field": getattr(exc, "field", None)},
        )
        return None
    extra: dict[str, Any] = {"content_hash": rendered.content_hash}
    if chosen == "voice":
        extra["voicemail_text"] = (
            f"This is {ctx.settings.care_team_name} with a message for you. "
            f"Please call {ctx.settings.clinic_phone}."
        )
    return NewMessage(
        idempotency_key=f"enr{enrollment.id}:{item.step.id}{key_suffix}",
        patient_id=enrollment.patient_id,
        purpose=program.purpose,
        channel=chosen,
        to_address=address,
        body=rendered.body,
        subject=rendered.subject,
        html=rendered.html,
        due_at=decision.send_at,
        sender=default_sender(ctx.channels, chosen),
        language=rendered.used.language,
        enrollment_id=enrollment.id,
        program=program.name,
        step=item.step.id,
        recipient_kind=recipient.kind,
        caregiver_id=recipient.caregiver_id,
        content_message=item.step.message,
        content_version_id=rendered.version_id,
        decision_id=decision.decision_id,
        propensity=decision.propensity,
        max_attempts=program.max_attempts,
        extra=extra,
    )


def _caregiver_copies(
    session: Session,
    *,
    ctx: TickContext,
    program: OutreachProgram,
    item: _Due,
    decision: Decision,
    library: Library,
    report: TickReport,
) -> Iterable[NewMessage]:
    """The same reminder to each designated caregiver, timed inside their availability."""
    assert decision.send_at is not None

    patient = get_patient(session, item.enrollment.patient_id)
    carers = {c.id: c for c in caregivers_of(session, patient_id=patient.id)}
    for recipient in caregiver_recipients(
        session, patient=patient, now=decision.send_at, only_available=False
    ):
        caregiver = carers[recipient.caregiver_id or ""]
        at = _caregiver_time(caregiver, zone=patient.timezone, start=decision.send_at)
        if at is None:
            continue
        channel = "sms" if "sms" in recipient.addresses else next(iter(recipient.addresses))
        timed = replace(decision, send_at=at)
        message = _render(
            session,
            ctx=ctx,
            program=program,
            item=item,
            decision=timed,
            recipient=recipient,
            library=library,
            channel=channel,
            key_suffix=f":cg:{recipient.caregiver_id}",
        )
        if message is not None:
            _bump(report, program.name, "caregiver_queued")
            yield message


def _caregiver_time(caregiver: Any, *, zone: str, start: datetime) -> datetime | None:
    """The first moment at or after ``start`` inside the caregiver's windows and outside
    default quiet hours (21:00-08:00 in the patient's zone)."""
    quiet = QuietHours()
    moment: datetime | None = start
    for _ in range(8):
        moment = next_caregiver_window(caregiver, zone=zone, now=moment) if moment else None
        if moment is None:
            return None
        local = moment.astimezone(ZoneInfo(zone))
        if not quiet.contains(local.hour * 60 + local.minute):
            return moment
        moment += timedelta(hours=1)
    return None


def program_map(programs: Sequence[OutreachProgram]) -> Mapping[str, OutreachProgram]:
    return {p.name: p for p in programs}
