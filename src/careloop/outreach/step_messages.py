"""Due steps become messages: one engine decision per step, rendered approved content,
addressed to the patient (and designated caregivers), written to the outbox."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from careloop.content.compose import RenderedMessage
from careloop.errors import CareloopError
from careloop.models import Enrollment
from careloop.outreach.audience import (
    Recipient,
    build_snapshots,
    caregiver_recipients,
    caregiver_send_time,
    escort_send_time,
    recipient_fields,
)
from careloop.outreach.budget import PROGRAM_GAP, contact_budget, contact_times, hold_over_budget
from careloop.outreach.config import default_sender
from careloop.outreach.decided import decide_for, decided_notice
from careloop.outreach.due_steps import (
    ESCALATION_STEP,
    DueStep,
    advance,
    skip_step,
    write_step_state,
)
from careloop.outreach.handoffs import CheckinInvite, RescheduleOffer
from careloop.outreach.interpreter_calls import route_voice
from careloop.outreach.outbox import NewMessage, enqueue_flags
from careloop.outreach.program import OutreachProgram, WaitOrigin
from careloop.outreach.render_memo import RenderMemo
from careloop.outreach.requests import language_note
from careloop.outreach.tick_context import ProgramRun
from careloop.outreach.voice_calls import voicemail_line
from careloop.outreach.withheld import with_portal_copy
from careloop.personalize.actions import Action, ActionSpace
from careloop.personalize.decision_log import record_decisions
from careloop.personalize.engine import Decision
from careloop.personalize.materialize import all_decisions
from careloop.personalize.snapshot import ProgramSpec
from careloop.programs.reply_reasons import GENERAL_OFFER
from careloop.records.caregivers import caregivers_of
from careloop.records.interpreter import interpreter_needs
from careloop.records.service import get_patient

log = logging.getLogger("careloop.outreach")
ESCORT_REMINDER = "caregiver_visit_reminder"


def _hand_off(session: Session, run: ProgramRun, *, items: list[DueStep]) -> list[DueStep]:
    """Steps that another workflow carries out go into the report; the rest are returned."""
    program = run.program
    own = []
    for item in items:
        if item.step.handoff is None:
            own.append(item)
            continue
        enrollment = item.enrollment
        run.report.reschedule_offers.append(
            RescheduleOffer(
                patient_id=enrollment.patient_id,
                program=program.name,
                appointment_id=enrollment.episode.removeprefix("Appointment/"),
                message=item.step.message,
            )
        )
        advance(session, enrollment=enrollment, program=program, now=run.now, sent_at=None)
    return own


def _seed(run: ProgramRun, items: Sequence[DueStep]) -> int:
    """Reproducible for the same batch at the same moment, different for any other batch
    (decision ids are drawn from this generator, so they must not repeat across batches)."""
    batch = ",".join(f"{i.enrollment.id}:{i.enrollment.next_step}:{i.step.id}" for i in items)
    text = f"{run.ctx.seed}|{run.program.name}|{run.now.isoformat()}|{batch}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def spec_for(program: OutreachProgram, forced_channel: str | None) -> ProgramSpec:
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
            framings=space.framings,
        ),
    )


def run_steps(
    session: Session, run: ProgramRun, *, items: list[DueStep], forced_channel: str | None
) -> None:
    """Decide, render and queue the due steps sent on one channel (or the engine's choice)."""
    ctx, program, now = run.ctx, run.program, run.now
    items = _hand_off(session, run, items=items)
    if not items:
        return
    spec = spec_for(program, forced_channel)
    patient_ids = [i.enrollment.patient_id for i in items]
    unique_ids = list(dict.fromkeys(patient_ids))
    snapshots, recipients = build_snapshots(
        session,
        patient_ids=unique_ids,
        purpose=program.purpose,
        now=now,
        budget_period=ctx.engine.budget_period,
        reads=ctx.reads,
    )
    by_id = {s.patient_id: s for s in snapshots}
    contacts = contact_times(session, patient_ids=unique_ids, now=now)
    budget = contact_budget(ctx.settings.budget, min_gap_hours=program.min_gap_hours)
    batch = decide_for(
        session,
        snapshots=[by_id[p] for p in patient_ids],
        spec=spec,
        config=ctx.engine,
        now=now,
        seed=_seed(run, items),
    )
    # The interpreter need of every patient the engine would call, read at once.
    voice = [p for i, p in enumerate(patient_ids) if _channel(batch.action(i)) == "voice"]
    needs = interpreter_needs(session, patient_ids=list(dict.fromkeys(voice)))
    engine_decisions = all_decisions(batch)
    messages: list[NewMessage] = []
    decided: list[tuple[Decision, Sequence[float]]] = []  # written together after the loop
    memo = RenderMemo()  # one render per variant, channel, zone and values of its fields
    run.count("decided", len(items))  # every due step gets its decision below
    for i, item in enumerate(items):
        # Exact budget check at the chosen send time, against everything sent or scheduled
        # (this tick's earlier programs and steps included): a hold, never an overrun.
        pid = item.enrollment.patient_id
        # A reminder before a record date (a visit) is not held by the spacing between
        # contacts: held, it would be retried a day later, past the date, and skipped.
        decision = hold_over_budget(
            engine_decisions[i],
            contacts=contacts[pid].counted,
            spacing=contacts[pid].spacing,
            budget=budget,
            spaced=item.step.wait.origin is not WaitOrigin.ANCHOR,
        )
        message = item.step.message_for((item.enrollment.fields or {}).get("visit"))
        decision, human_call = route_voice(
            session,
            decision=decision,
            message=message,
            program=program.name,
            title=program.title,
            library=run.library,
            needs=needs,
        )
        decided.append((decision, batch.features[i]))
        enrollment = item.enrollment
        if decision.action is None or decision.send_at is None:
            run.count("blocked")
            enrollment.step_due_at = now + timedelta(hours=ctx.settings.blocked_retry_hours)
            continue
        if human_call is not None:
            run.report.call_tasks.append(human_call)
            skip_step(session, run, enrollment=enrollment, step=item.step, why="interpreter")
            if item.step.id == ESCALATION_STEP:
                enrollment.step_due_at = (
                    None if enrollment.next_step >= len(program.steps) else now + timedelta(days=1)
                )
                continue
            advance(session, enrollment=enrollment, program=program, now=now, sent_at=None)
            continue
        recipient = recipients[enrollment.patient_id]
        rendered_all = _render(
            session,
            run,
            item=item,
            message=message,
            decision=decision,
            recipient=recipient,
            memo=memo,
        )
        if not rendered_all:
            skip_step(session, run, enrollment=enrollment, step=item.step, why="content")
            advance(session, enrollment=enrollment, program=program, now=now, sent_at=None)
            continue
        messages.extend(rendered_all)  # a withheld message's portal copy comes first
        contacts[pid].add(decision.send_at, channel=rendered_all[-1].channel)
        built = rendered_all[-1]
        if item.step.questionnaire and built.channel == "sms":
            run.report.checkins.append(
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
                    session, run, item=item, message=message, decision=decision, memo=memo
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
        advance(session, enrollment=enrollment, program=program, now=now, sent_at=decision.send_at)
    write_step_state(session)  # before the decisions' flush would write them one by one
    record_decisions(session, clock=ctx.clock, decisions=decided)
    queued = enqueue_flags(session, messages=messages, now=now)
    run.count(
        "queued",
        sum(
            1
            for m, q in zip(messages, queued, strict=True)
            if q and m.recipient_kind == "patient" and "withheld_from" not in m.extra
        ),
    )


def _channel(action: Action | None) -> str | None:
    return action.channel if action is not None else None


def _fields(
    run: ProgramRun, enrollment: Enrollment, recipient: Recipient, *, message: str = ""
) -> dict[str, object]:
    ctx, program = run.ctx, run.program
    fields = recipient_fields(ctx.settings, recipient) | {
        "booking_link": ctx.settings.booking_link,
        "program_name": program.title,
        # The missing-data nudge goes out after the journey's 3-day wait for a reading.
        "days_without_readings": 3,
        # The win-back words for an enrolment that carries no reason (a hand-made one).
        "help_offer": GENERAL_OFFER,
    }
    fields.update(program.fields)
    fields.update(enrollment.fields or {})
    if "appointment_at" in fields:
        fields.setdefault("appointment_place", ctx.settings.default_place)
    if fields.get("visit") == "telehealth":
        appointment = enrollment.episode.removeprefix("Appointment/")
        fields.setdefault(
            "telehealth_link", f"{ctx.settings.telehealth_link.rstrip('/')}/{appointment}"
        )
    if fields.get("visit") == "ride":
        fields.setdefault("ride_provider", ctx.settings.ride_provider)
    if message == ESCORT_REMINDER:
        # Words for the person who comes along: greet them, name the patient apart.
        fields["patient_first_name"] = recipient.first_name or ""
        own = (recipient.own_name or "").split(" ")
        fields["first_name"] = recipient.own_first_name
        fields.pop("last_name", None)
        if own[1:]:
            fields["last_name"] = " ".join(own[1:])
    return fields


def _render(
    session: Session,
    run: ProgramRun,
    *,
    item: DueStep,
    message: str,
    decision: Decision,
    recipient: Recipient,
    memo: RenderMemo,
    channel: str | None = None,
    key_suffix: str = "",
) -> list[NewMessage]:
    """Render the chosen variant and address it, the notice last after any portal copy
    of what it withholds (:mod:`careloop.outreach.withheld`); empty when content or address
    is missing."""
    ctx, program = run.ctx, run.program
    action = decision.action
    assert action is not None
    assert decision.send_at is not None
    chosen = channel or action.channel
    address = recipient.addresses.get(chosen)
    if address is None:
        return []
    enrollment = item.enrollment

    def render(channel: str) -> RenderedMessage:
        fields = _fields(run, enrollment, recipient, message=message)
        zone = recipient.timezone
        return memo.decided(
            session, decision, message=message, channel=channel, fields=fields, timezone=zone,
            library=run.library,
        )  # fmt: skip

    try:
        rendered = render(chosen)
    except CareloopError as exc:
        log.warning(
            "cannot render %s for %s: %s",
            message,
            chosen,
            exc.__class__.__name__,
            extra={"field": getattr(exc, "field", None)},
        )
        return []
    extra: dict[str, Any] = {"content_hash": rendered.content_hash}
    note = language_note(rendered, wanted=decision.language)
    if note:  # staff see why a patient who reads Chinese got English
        extra["language_note"] = note
    if item.step.wait.origin is WaitOrigin.ANCHOR:
        extra["timely"] = True  # before a visit: not deferred by the spacing at dispatch
    if program.min_gap_hours is not None:  # the worker spaces it by its program's gap
        extra[PROGRAM_GAP] = program.min_gap_hours
    if chosen == "voice":
        extra["voicemail_text"] = voicemail_line(ctx.settings, language=decision.language)
    notice = decided_notice(
        key=f"enr{enrollment.id}:{item.step.id}{key_suffix}",
        purpose=program.purpose,
        program=program.name,
        message=message,
        channel=chosen,
        address=address,
        sender=default_sender(ctx.channels, chosen),
        rendered=rendered,
        decision=decision,
        recipient=recipient,
        extra=extra,
        enrollment_id=enrollment.id,
        step=item.step.id,
        max_attempts=program.max_attempts,
    )
    return with_portal_copy(notice, rendered=rendered, render_portal=lambda: render("portal"))


def _caregiver_copies(
    session: Session,
    run: ProgramRun,
    *,
    item: DueStep,
    message: str,
    decision: Decision,
    memo: RenderMemo,
) -> Iterable[NewMessage]:
    """The same reminder to each designated caregiver, timed inside their availability.

    When the appointment names who comes along (``escorts``: a booking careloop made), only
    they are copied, in words for the person who comes along (:data:`ESCORT_REMINDER`: the
    patient's first name and the time, nothing more); nobody is copied for a video visit or
    a ride."""
    assert decision.send_at is not None

    patient = get_patient(session, item.enrollment.patient_id)
    carers = {c.id: c for c in caregivers_of(session, patient_id=patient.id)}
    escorts = (item.enrollment.fields or {}).get("escorts")
    visit_at = _visit_at(item.enrollment.fields or {})
    if escorts is not None:
        message = ESCORT_REMINDER
    for recipient in caregiver_recipients(
        session, patient=patient, now=decision.send_at, only_available=False
    ):
        if escorts is not None and recipient.caregiver_id not in escorts:
            continue
        caregiver = carers[recipient.caregiver_id or ""]
        at = (
            escort_send_time(
                caregiver, zone=patient.timezone, start=decision.send_at, visit_at=visit_at
            )
            if escorts is not None
            else caregiver_send_time(caregiver, zone=patient.timezone, start=decision.send_at)
        )
        if at is None:
            continue
        channel = "sms" if "sms" in recipient.addresses else next(iter(recipient.addresses))
        timed = replace(decision, send_at=at)
        copies = _render(
            session,
            run,
            item=item,
            message=message,
            decision=timed,
            recipient=recipient,
            channel=channel,
            key_suffix=f":cg:{recipient.caregiver_id}",
            memo=memo,
        )
        if copies:
            run.count("caregiver_queued")
            yield from copies


def _visit_at(fields: dict[str, object]) -> datetime | None:
    """The appointment's start from the enrollment's fields (ISO-8601), if it names one."""
    value = fields.get("appointment_at")
    if isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
