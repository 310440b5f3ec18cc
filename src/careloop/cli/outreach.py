"""CLI faces of outreach: ``careloop worker`` and ``careloop outreach tick|enrollments|outbox``."""

from __future__ import annotations

import signal
import sys
from typing import Annotated

import typer
from rich.console import Console

from careloop.cli.options import DatabaseOption, JsonOption, PatientArg
from careloop.cli.support import audit_cli, command_group, counts_line, emit, print_json, runtime

outreach_app = command_group("Journeys, the scheduler and the outbox.")


def worker(
    database: DatabaseOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Run the due jobs, drain the outbox, stop.")
    ] = False,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=10_000, help="Rows claimed per batch.")
    ] = 200,
    worker_id: Annotated[
        str | None, typer.Option("--id", help="Name of this worker (default host-pid).")
    ] = None,
    jobs: Annotated[
        bool,
        typer.Option(
            "--jobs/--no-jobs",
            help="Also run the periodic jobs (tick, escalations, missing data, retention); "
            "each runs once per period however many workers run.",
        ),
    ] = True,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Run tasks from the distributed queue (PostgreSQL): nightly slices, the "
            "outbox and the periodic jobs, shared by every worker of every machine.",
        ),
    ] = False,
    concurrency: Annotated[
        int, typer.Option("--concurrency", min=1, max=64, help="Tasks at once (--queue).")
    ] = 1,
    queues: Annotated[
        str,
        typer.Option("--queues", help="With --queue: which of nightly,outbox,jobs to serve."),
    ] = "nightly,outbox,jobs",
    as_json: JsonOption = False,
) -> None:
    """Run the periodic jobs that are due and send what the outbox holds, until stopped."""
    if queue:
        names = [q.strip() for q in queues.split(",") if q.strip()]
        _queue_worker(database, concurrency=concurrency, once=once, name=worker_id, queues=names)
        return
    from careloop.compose.jobs import JobRunner
    from careloop.compose.process import run_worker_loop
    from careloop.compose.worker import build_worker
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index

    stopping = {"now": False}

    def _stop(_signum: int, _frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with runtime(database) as rt:
        configure_logging(rt.settings.logging.level, json_format=rt.settings.logging.json_format)
        ensure_contact_index(rt)
        w = build_worker(rt, worker_id=worker_id)
        runner = JobRunner(rt, owner=w.worker_id) if jobs else None
        report = run_worker_loop(w, runner, batch=batch, once=once, stop=lambda: stopping["now"])
    if as_json:
        print_json(report.as_dict())
        return
    out = report.outbox
    Console().print(
        f"sent {out.sent}, retrying {out.retried}, dead {out.dead}, deferred {out.deferred}"
        + "".join(f"; {j.name} {j.status}" for j in report.jobs)
    )


def _queue_worker(
    database: str | None, *, concurrency: int, once: bool, name: str | None, queues: list[str]
) -> None:
    """``careloop worker --queue``: Procrastinate's worker over careloop's queues."""
    from careloop.compose.queue import run_queue_worker
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index

    with runtime(database) as rt:
        configure_logging(rt.settings.logging.level, json_format=rt.settings.logging.json_format)
        ensure_contact_index(rt)
        run_queue_worker(rt, concurrency=concurrency, once=once, name=name, queues=queues)


def send_command(
    patient_id: PatientArg,
    channel: Annotated[str, typer.Option("--channel", help="sms, email, voice or portal.")],
    text: Annotated[str, typer.Option("--text", help="The message, in the staff's words.")],
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Queue a one-off message through the outbox (consent, quiet hours, budget, audit)."""
    from careloop.audit import AuditAction, Purpose
    from careloop.outreach.staff_messages import send_staff_message

    with runtime(database) as rt, rt.transaction() as session:
        queued = send_staff_message(
            session,
            patient_id=patient_id,
            channel=channel,
            text=text,
            now=rt.clock.now(),
            clock=rt.clock,
            settings=rt.settings,
        )
        audit_cli(
            session,
            rt,
            AuditAction.SEND,
            "outbox-message",
            Purpose.TREATMENT,
            patient_ids=[patient_id],
            detail={"channel": queued.channel, "outbox_id": queued.outbox_id},
        )
    if as_json:
        print_json(
            {
                "id": queued.outbox_id,
                "channel": queued.channel,
                "due_at": queued.due_at.isoformat(),
                "already_queued": queued.already_queued,
            }
        )
    else:
        Console().print(f"queued message {queued.outbox_id}, due {queued.due_at.isoformat()}")


@outreach_app.command("tick")
def outreach_tick(
    database: DatabaseOption = None,
    program: Annotated[
        list[str] | None, typer.Option("--program", "-p", help="Only these programs.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Enroll the newly eligible and queue every journey step that is due now."""
    from careloop.compose.outreach import run_tick, tick_context
    from careloop.outreach.config import outreach_settings
    from careloop.outreach.service import load_outreach_programs

    with runtime(database) as rt:
        own, _ = outreach_settings(rt.settings)
        programs = load_outreach_programs(own, names=program)
        ctx = tick_context(rt, programs=programs)
        report = run_tick(rt, ctx=ctx)
    if as_json:
        print_json(report.as_dict())
        return
    console = Console()
    for name, counts in sorted(report.by_program.items()):
        console.print(f"{name}: " + counts_line(counts))
    if not report.by_program:
        console.print("nothing to do")


@outreach_app.command("enrollments")
def outreach_enrollments(
    database: DatabaseOption = None,
    program: Annotated[str | None, typer.Option("--program", "-p")] = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    summary: Annotated[bool, typer.Option("--summary", help="Counts per program/arm.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Enrollments, newest first (or counts per program, arm and state)."""
    from careloop.outreach.service import enrollment_summary, list_enrollments
    from careloop.outreach.states import EnrollmentState

    if state is not None and state not in set(EnrollmentState):
        raise typer.BadParameter(f"state must be one of {', '.join(EnrollmentState)}")
    with runtime(database) as rt, rt.transaction() as session:
        result: object = (
            enrollment_summary(session)
            if summary
            else list_enrollments(session, program=program, state=state, limit=limit)
        )
    if as_json:
        print_json(result)
        return
    console = Console(file=sys.stdout)
    if isinstance(result, dict):
        for key, counts in sorted(result.items()):
            console.print(f"{key}: " + counts_line(counts))
    else:
        for row in result:  # type: ignore[attr-defined]
            console.print(
                f"{row['id']:>6}  {row['program']:<28} {row['arm']:<8} {row['state']:<10} "
                f"step {row['next_step']} due {row['step_due_at'] or '-'}"
            )


@outreach_app.command("outbox")
def outreach_outbox(database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Outbox messages per state."""
    from careloop.outreach.service import outbox_summary

    with runtime(database) as rt, rt.transaction() as session:
        counts = outbox_summary(session)
    emit(counts, as_json=as_json, text=counts_line(counts) or "empty")


def decide(
    patient_id: PatientArg,
    program: Annotated[
        str | None, typer.Option(help="Program (default: the patient's current one).")
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """What the engine would decide for this patient now (nothing is sent or recorded)."""
    from careloop.audit import AuditAction, Purpose
    from careloop.errors import NotFound
    from careloop.outreach.next_decision import preview_next_decision
    from careloop.records.service import get_patient

    with runtime(database) as rt, rt.transaction() as session:
        get_patient(session, patient_id)
        preview = preview_next_decision(
            session,
            patient_id=patient_id,
            now=rt.clock.now(),
            programs=[program] if program else (),
        )
        if preview is None or (program and preview.program != program):
            raise NotFound("no such program")
        audit_cli(
            session,
            rt,
            AuditAction.READ,
            "next-decision",
            Purpose.OPERATIONS,
            patient_ids=[patient_id],
        )
        result = {"program": preview.program, **preview.decision.as_dict()}
    if as_json:
        print_json(result)
        return
    console = Console()
    console.print(f"[bold]{preview.program_title}[/]: {result['explanation']}", highlight=False)
    action = result.get("action")
    if action:
        console.print(f"action {action}, propensity {result['propensity']:.3f}")
    for removal in result.get("removals", []):
        console.print(f"  removed: {removal}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
    app.command("send")(send_command)
    app.command("decide")(decide)
    app.add_typer(outreach_app, name="outreach")
