"""CLI of medications and exam preparation: ``careloop medications ...``.

``reminders PATIENT_ID --json`` is the contract of issue #23: for each active medicine and dose
slot, ``{"medication", "slot", "next_reminder", "basis"}``. The other commands record answers,
pause or stop reminders, run the reminder/refill pass, and work the adverse-event queue.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Document, Listed, Output, Shown, Work, in_transaction
from careloop.cli.options import ByOption, PatientArg
from careloop.cli.support import cli_principal, command_group
from careloop.feedback.timestamps import parse_instant
from careloop.security.principal import Principal
from careloop.security.roles import Role

medications_app = command_group(
    "Medication reminders at the patient's own times, refills, exam preparation, AE cases."
)
MedicationOption = Annotated[
    str | None, typer.Option("--medication", help="RxNorm code of one medicine (default: all).")
]


def _instant(text: str | None, field: str) -> datetime | None:
    return None if text is None else parse_instant(text, field=field, space_for_t=True)


@medications_app.command("reminders")
@in_transaction()
def reminders_cmd(work: Work, patient_id: PatientArg) -> Output:
    """When each dose of PATIENT_ID's active medicines is reminded next, and why.

    The time of each dose slot starts from the prescription's timing (BID, with meals, at
    bedtime, timeOfDay) in the patient's time zone, then follows the median of the patient's
    recent "taken" confirmations, never inside quiet hours. With --json: a list of
    {"medication", "slot", "next_reminder", "basis"}.
    """
    from careloop.medications.service import reminders

    rows = reminders(work.session, patient_id=patient_id, now=work.now())
    _audit(work, AuditAction.READ, "medication-reminders", patient_id)
    return Listed(
        [r.model_dump() for r in rows],
        line=lambda r: f"{r['medication']} [{r['slot']}] next {r['next_reminder']} — {r['basis']}",
        empty="no active medication with a dose schedule",
    )


def _audit(
    work: Work, action: AuditAction, resource: str, patient_id: str, **detail: object
) -> None:
    work.audit(action, resource, Purpose.TREATMENT, patient_ids=[patient_id], detail=detail or None)


@medications_app.command("confirm")
@in_transaction()
def confirm_cmd(
    work: Work,
    patient_id: PatientArg,
    answer: Annotated[str, typer.Option("--answer", help="taken, later or skipped.")],
    at: Annotated[str | None, typer.Option("--at", help="When (ISO-8601; default now).")] = None,
    medication: MedicationOption = None,
) -> Output:
    """Record a dose answer given at the front desk or by phone (channel: staff)."""
    from careloop.medications.service import confirm

    rows = confirm(
        work.session,
        patient_id=patient_id,
        answer=answer,
        at=_instant(at, "at") or work.now(),
        channel="staff",
        actor="cli",
        now=work.now(),
        medication_key=medication,
    )
    _audit(work, AuditAction.CREATE, "dose-confirmation", patient_id)
    return Shown({"answer": answer, "slots": len(rows)}, f"{answer}: {len(rows)} dose(s)")


def _set(
    work: Work, patient_id: str, status: str, medication: str | None, until: str | None = None
) -> str:
    from careloop.medications.service import set_status

    changed = set_status(
        work.session,
        patient_id=patient_id,
        status=status,
        now=work.now(),
        medication_key=medication,
        until=_instant(until, "until"),
    )
    _audit(work, AuditAction.UPDATE, "medication-reminders", patient_id, status=status)
    return f"{status}: {changed} dose slot(s)"


@medications_app.command("pause")
@in_transaction(json=False)
def pause_cmd(
    work: Work,
    patient_id: PatientArg,
    until: Annotated[str | None, typer.Option("--until", help="Resume at (ISO-8601).")] = None,
    medication: MedicationOption = None,
) -> str:
    """Pause reminders (a hospital stay, a trip), until a date or until resumed."""
    return _set(work, patient_id, "paused", medication, until)


@medications_app.command("resume")
@in_transaction(json=False)
def resume_cmd(work: Work, patient_id: PatientArg, medication: MedicationOption = None) -> str:
    """Resume paused or stopped reminders."""
    return _set(work, patient_id, "active", medication)


@medications_app.command("stop")
@in_transaction(json=False)
def stop_cmd(work: Work, patient_id: PatientArg, medication: MedicationOption = None) -> str:
    """Stop reminders (they also stop by themselves when the prescription stops)."""
    return _set(work, patient_id, "stopped", medication)


@medications_app.command("run")
@in_transaction()
def run_cmd(work: Work) -> Output:
    """One pass: dose reminders due now, refill reminders due soon, exam-prep instructions."""
    from careloop.medications.prep import prep_pass
    from careloop.medications.refills import refill_pass
    from careloop.medications.reminders import send_due_reminders

    session, now, clock, settings = work.session, work.now(), work.rt.clock, work.rt.settings
    sent = send_due_reminders(session, now=now, clock=clock, settings=settings)
    refills = refill_pass(session, now=now, clock=clock, settings=settings)
    asked = prep_pass(session, now=now, clock=clock, settings=settings)
    result = {
        "reminders_queued": len(sent.queued),
        "reminders_not_queued": sent.not_queued,
        "refill_reminders_queued": len(refills.queued),
        "call_tasks": len(refills.call_tasks),
        "prep_instructions_sent": asked,
    }
    return Shown(result, ", ".join(f"{k}: {v}" for k, v in result.items()))


CaseArg = Annotated[int, typer.Argument(help="The adverse-event case number.", show_default=False)]


@medications_app.command("ae-queue")
@in_transaction()
def ae_queue_cmd(
    work: Work,
    include_triaged: Annotated[bool, typer.Option("--all", help="Include triaged.")] = False,
) -> Output:
    """The pharmacovigilance queue: serious first, then by the 24-hour deadline (no PHI)."""
    from careloop.medications.adverse import queue

    rows = [
        {
            "case": e.id,
            "program": e.program,
            "serious": e.serious,
            "status": e.status,
            "received_at": e.received_at.isoformat(),
            "due_at": e.due_at.isoformat(),
            "overdue": e.overdue,
        }
        for e in queue(work.session, now=work.now(), include_triaged=include_triaged)
    ]
    return Listed(
        rows,
        line=lambda r: f"#{r['case']} {r['program']} serious={r['serious']} due {r['due_at']}"
        + (" OVERDUE" if r["overdue"] else ""),
    )


def _principal(by: str | None) -> Principal:
    return cli_principal(Role.CLINICIAN, name=by)


@medications_app.command("ae-export")
@in_transaction(json=False)
def ae_export_cmd(work: Work, case: CaseArg, by: ByOption = None) -> Output:
    """Print one case as E2B(R3)-shaped JSON (the view is audited under your name)."""
    from careloop.medications.adverse import e2b_case, view_case

    row = view_case(work.session, case, principal=_principal(by), clock=work.rt.clock)
    return Document(e2b_case(row))


@medications_app.command("ae-triage")
@in_transaction(json=False)
def ae_triage_cmd(work: Work, case: CaseArg, by: ByOption = None) -> str:
    """Mark a case triaged (the report counts the hours it took)."""
    from careloop.medications.adverse import triage

    row = triage(work.session, case, principal=_principal(by), clock=work.rt.clock)
    return f"case #{row.id}: triaged by {row.triaged_by}"


@medications_app.command("prep-start")
@in_transaction(json=False)
def prep_start_cmd(
    work: Work,
    patient_id: PatientArg,
    kind: Annotated[
        str, typer.Option("--kind", help="colonoscopy, fasting-labs or imaging-contrast.")
    ],
    at: Annotated[str, typer.Option("--at", help="The appointment (ISO-8601 with offset).")],
) -> str:
    """Open an exam-preparation journey with teach-back for an appointment."""
    from careloop.medications.prep import start_prep

    moment = _instant(at, "at")
    assert moment is not None
    journey = start_prep(
        work.session, patient_id=patient_id, kind=kind, appointment_at=moment, now=work.now()
    )
    _audit(work, AuditAction.CREATE, "prep-journey", patient_id)
    return f"prep journey #{journey.id}: {journey.status}"


@medications_app.command("prep-outcome")
@in_transaction(json=False)
def prep_outcome_cmd(
    work: Work,
    journey: Annotated[int, typer.Argument(help="The journey number.", show_default=False)],
    outcome: Annotated[str, typer.Option("--outcome", help="adequate or rescheduled-for-prep.")],
) -> str:
    """Record how the preparation went at the exam."""
    from careloop.medications.prep import record_outcome

    row = record_outcome(work.session, journey_id=journey, outcome=outcome, now=work.now())
    _audit(work, AuditAction.UPDATE, "prep-journey", row.patient_id)
    return f"prep journey #{journey}: {outcome}"


def register(app: typer.Typer) -> None:
    app.add_typer(medications_app, name="medications")
