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
from careloop.cli.options import ByOption, DatabaseOption, JsonOption, PatientArg
from careloop.cli.support import (
    audit_cli,
    cli_principal,
    command_group,
    emit,
    print_json,
    print_rows,
)
from careloop.cli.support import runtime as open_cli_runtime
from careloop.errors import InvalidInput
from careloop.security.principal import Principal
from careloop.security.roles import Role

medications_app = command_group(
    "Medication reminders at the patient's own times, refills, exam preparation, AE cases."
)
MedicationOption = Annotated[
    str | None, typer.Option("--medication", help="RxNorm code of one medicine (default: all).")
]


def _instant(text: str | None, field: str) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{field} is not an ISO-8601 date-time", field=field) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{field} needs a UTC offset", field=field)
    return moment


@medications_app.command("reminders")
def reminders_cmd(
    patient_id: PatientArg,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """When each dose of PATIENT_ID's active medicines is reminded next, and why.

    The time of each dose slot starts from the prescription's timing (BID, with meals, at
    bedtime, timeOfDay) in the patient's time zone, then follows the median of the patient's
    recent "taken" confirmations, never inside quiet hours. With --json: a list of
    {"medication", "slot", "next_reminder", "basis"}.
    """
    from careloop.medications.service import reminders

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = reminders(session, patient_id=patient_id, now=rt.clock.now())
        audit_cli(
            session,
            rt,
            AuditAction.READ,
            "medication-reminders",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
        )
    print_rows(
        [r.model_dump() for r in rows],
        as_json=as_json,
        line=lambda r: f"{r['medication']} [{r['slot']}] next {r['next_reminder']} — {r['basis']}",
        empty="no active medication with a dose schedule",
    )


@medications_app.command("confirm")
def confirm_cmd(
    patient_id: PatientArg,
    answer: Annotated[str, typer.Option("--answer", help="taken, later or skipped.")],
    at: Annotated[str | None, typer.Option("--at", help="When (ISO-8601; default now).")] = None,
    medication: MedicationOption = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a dose answer given at the front desk or by phone (channel: staff)."""
    from careloop.medications.service import confirm

    moment = _instant(at, "at")
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        rows = confirm(
            session,
            patient_id=patient_id,
            answer=answer,
            at=moment or rt.clock.now(),
            channel="staff",
            actor="cli",
            now=rt.clock.now(),
            medication_key=medication,
        )
        audit_cli(
            session,
            rt,
            AuditAction.CREATE,
            "dose-confirmation",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
        )
        result = {"answer": answer, "slots": len(rows)}
    emit(result, as_json=as_json, text=f"{answer}: {len(rows)} dose(s)")


def _set(
    patient_id: str, status: str, medication: str | None, until: str | None, database: str | None
) -> None:
    from careloop.medications.service import set_status

    moment = _instant(until, "until")
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        changed = set_status(
            session,
            patient_id=patient_id,
            status=status,
            now=rt.clock.now(),
            medication_key=medication,
            until=moment,
        )
        audit_cli(
            session,
            rt,
            AuditAction.UPDATE,
            "medication-reminders",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
            detail={"status": status},
        )
    typer.echo(f"{status}: {changed} dose slot(s)")


@medications_app.command("pause")
def pause_cmd(
    patient_id: PatientArg,
    until: Annotated[str | None, typer.Option("--until", help="Resume at (ISO-8601).")] = None,
    medication: MedicationOption = None,
    database: DatabaseOption = None,
) -> None:
    """Pause reminders (a hospital stay, a trip), until a date or until resumed."""
    _set(patient_id, "paused", medication, until, database)


@medications_app.command("resume")
def resume_cmd(
    patient_id: PatientArg, medication: MedicationOption = None, database: DatabaseOption = None
) -> None:
    """Resume paused or stopped reminders."""
    _set(patient_id, "active", medication, None, database)


@medications_app.command("stop")
def stop_cmd(
    patient_id: PatientArg, medication: MedicationOption = None, database: DatabaseOption = None
) -> None:
    """Stop reminders (they also stop by themselves when the prescription stops)."""
    _set(patient_id, "stopped", medication, None, database)


@medications_app.command("run")
def run_cmd(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """One pass: dose reminders due now, refill reminders due soon, exam-prep instructions."""
    from careloop.medications.prep import prep_pass
    from careloop.medications.refills import refill_pass
    from careloop.medications.reminders import send_due_reminders

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        now = rt.clock.now()
        sent = send_due_reminders(session, now=now, clock=rt.clock, settings=rt.settings)
        refills = refill_pass(session, now=now, clock=rt.clock, settings=rt.settings)
        asked = prep_pass(session, now=now, clock=rt.clock, settings=rt.settings)
        result = {
            "reminders_queued": len(sent.queued),
            "reminders_not_queued": sent.not_queued,
            "refill_reminders_queued": len(refills.queued),
            "call_tasks": len(refills.call_tasks),
            "prep_instructions_sent": asked,
        }
    emit(result, as_json=as_json, text=", ".join(f"{k}: {v}" for k, v in result.items()))


CaseArg = Annotated[int, typer.Argument(help="The adverse-event case number.", show_default=False)]


@medications_app.command("ae-queue")
def ae_queue_cmd(
    include_triaged: Annotated[bool, typer.Option("--all", help="Include triaged.")] = False,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """The pharmacovigilance queue: serious first, then by the 24-hour deadline (no PHI)."""
    from careloop.medications.adverse import queue

    with open_cli_runtime(database) as rt, rt.transaction() as session:
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
            for e in queue(session, now=rt.clock.now(), include_triaged=include_triaged)
        ]
    print_rows(
        rows,
        as_json=as_json,
        line=lambda r: f"#{r['case']} {r['program']} serious={r['serious']} due {r['due_at']}"
        + (" OVERDUE" if r["overdue"] else ""),
    )


def _principal(by: str | None) -> Principal:
    return cli_principal(Role.CLINICIAN, name=by)


@medications_app.command("ae-export")
def ae_export_cmd(case: CaseArg, database: DatabaseOption = None, by: ByOption = None) -> None:
    """Print one case as E2B(R3)-shaped JSON (the view is audited under your name)."""
    from careloop.medications.adverse import e2b_case, view_case

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        row = view_case(session, case, principal=_principal(by), clock=rt.clock)
        result = e2b_case(row)
    print_json(result)


@medications_app.command("ae-triage")
def ae_triage_cmd(case: CaseArg, database: DatabaseOption = None, by: ByOption = None) -> None:
    """Mark a case triaged (the report counts the hours it took)."""
    from careloop.medications.adverse import triage

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        row = triage(session, case, principal=_principal(by), clock=rt.clock)
        result = f"case #{row.id}: triaged by {row.triaged_by}"
    typer.echo(result)


@medications_app.command("prep-start")
def prep_start_cmd(
    patient_id: PatientArg,
    kind: Annotated[
        str, typer.Option("--kind", help="colonoscopy, fasting-labs or imaging-contrast.")
    ],
    at: Annotated[str, typer.Option("--at", help="The appointment (ISO-8601 with offset).")],
    database: DatabaseOption = None,
) -> None:
    """Open an exam-preparation journey with teach-back for an appointment."""
    from careloop.medications.prep import start_prep

    moment = _instant(at, "at")
    assert moment is not None
    with open_cli_runtime(database) as rt, rt.transaction() as session:
        journey = start_prep(
            session, patient_id=patient_id, kind=kind, appointment_at=moment, now=rt.clock.now()
        )
        audit_cli(
            session,
            rt,
            AuditAction.CREATE,
            "prep-journey",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
        )
        result = f"prep journey #{journey.id}: {journey.status}"
    typer.echo(result)


@medications_app.command("prep-outcome")
def prep_outcome_cmd(
    journey: Annotated[int, typer.Argument(help="The journey number.", show_default=False)],
    outcome: Annotated[str, typer.Option("--outcome", help="adequate or rescheduled-for-prep.")],
    database: DatabaseOption = None,
) -> None:
    """Record how the preparation went at the exam."""
    from careloop.medications.prep import record_outcome

    with open_cli_runtime(database) as rt, rt.transaction() as session:
        row = record_outcome(session, journey_id=journey, outcome=outcome, now=rt.clock.now())
        audit_cli(
            session,
            rt,
            AuditAction.UPDATE,
            "prep-journey",
            Purpose.TREATMENT,
            patient_ids=[row.patient_id],
        )
    typer.echo(f"prep journey #{journey}: {outcome}")


def register(app: typer.Typer) -> None:
    app.add_typer(medications_app, name="medications")
