"""CLI faces of outreach: ``careloop worker`` and ``careloop outreach tick|enrollments|outbox``."""

from __future__ import annotations

import signal
import sys
from contextlib import ExitStack
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from careloop.cli.command import Drawn, Output, Shown, Work, in_transaction
from careloop.cli.options import DatabaseOption, JsonOption, PatientArg
from careloop.cli.support import command_group, counts_line, print_json, runtime

if TYPE_CHECKING:
    from careloop.runtime import Runtime

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
    processes: Annotated[
        int | None,
        typer.Option(
            "--processes",
            min=1,
            max=64,
            help="Fork this many worker processes from one start-up and re-fork any that "
            "dies; SIGTERM stops them all. Children are named ID-PID.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run the periodic jobs that are due and send what the outbox holds, until stopped."""
    if queue and processes is not None:
        raise typer.BadParameter(
            "--processes forks outbox workers; with --queue use --concurrency",
            param_hint="--processes",
        )
    if processes is not None:
        _supervised_workers(
            database, processes=processes, worker_id=worker_id, jobs=jobs, batch=batch,
            once=once, as_json=as_json,
        )  # fmt: skip
        return
    if queue:
        names = [q.strip() for q in queues.split(",") if q.strip()]
        _queue_worker(database, concurrency=concurrency, once=once, name=worker_id, queues=names)
        return
    from careloop.collector import finish_process, paused, settle_batch_process

    stopping = {"now": False}

    def _stop(_signum: int, _frame: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    with ExitStack() as stack:
        # Start-up's objects (code, mappers, settings) live as long as the process and are
        # settled below: collector passes over them while they are built were ~10 % of a
        # worker's start-up CPU (docs/benchmarks.md, dsp, 2026-12-07).
        with paused():
            from careloop.compose.jobs import JobRunner
            from careloop.compose.process import run_worker_loop
            from careloop.compose.worker import build_worker

            rt = _worker_runtime(stack, database)
            w = build_worker(rt, worker_id=worker_id)
            runner = JobRunner(rt, owner=w.worker_id) if jobs else None
        settle_batch_process()
        report = run_worker_loop(w, runner, batch=batch, once=once, stop=lambda: stopping["now"])
    finish_process()
    if as_json:
        print_json(report.as_dict())
        return
    out = report.outbox
    Console().print(
        f"sent {out.sent}, retrying {out.retried}, dead {out.dead}, deferred {out.deferred}"
        + "".join(f"; {j.name} {j.status}" for j in report.jobs)
    )


def _worker_runtime(stack: ExitStack, database: str | None) -> Runtime:
    """A worker's runtime (closed with ``stack``), its logging set, the contact index checked."""
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index

    rt = stack.enter_context(runtime(database))
    configure_logging(rt.settings.logging.level, json_format=rt.settings.logging.json_format)
    ensure_contact_index(rt)
    return rt


def _supervised_workers(
    database: str | None,
    *,
    processes: int,
    worker_id: str | None,
    jobs: bool,
    batch: int,
    once: bool,
    as_json: bool,
) -> None:
    """``careloop worker --processes N``: imports and set-up once, then N forked workers."""
    from careloop.collector import finish_process, paused

    with ExitStack() as stack:
        with paused():
            from careloop.compose.process import run_worker_processes

            rt = _worker_runtime(stack, database)
        report = run_worker_processes(
            rt, processes=processes, worker_id=worker_id, jobs=jobs, batch=batch, once=once
        )
    finish_process()
    if as_json:
        print_json(report.as_dict())
    else:
        Console().print(f"{report.processes} worker processes stopped; {report.replaced} re-forked")
    if report.crash_loop:
        Console(stderr=True).print(
            "worker processes kept dying (a crash loop): stopped; see the log for the cause"
        )
        raise typer.Exit(1)


def _queue_worker(
    database: str | None, *, concurrency: int, once: bool, name: str | None, queues: list[str]
) -> None:
    """``careloop worker --queue``: Procrastinate's worker over careloop's queues."""
    from careloop.collector import settle_batch_process
    from careloop.compose.queue import run_queue_worker
    from careloop.logs import configure_logging
    from careloop.records.contacts_index import ensure_contact_index

    with runtime(database) as rt:
        configure_logging(rt.settings.logging.level, json_format=rt.settings.logging.json_format)
        ensure_contact_index(rt)
        settle_batch_process()
        run_queue_worker(rt, concurrency=concurrency, once=once, name=name, queues=queues)


@in_transaction()
def send_command(
    work: Work,
    patient_id: PatientArg,
    channel: Annotated[str, typer.Option("--channel", help="sms, email, voice or portal.")],
    text: Annotated[str, typer.Option("--text", help="The message, in the staff's words.")],
) -> Output:
    """Queue a one-off message through the outbox (consent, quiet hours, budget, audit)."""
    from careloop.audit import AuditAction, Purpose
    from careloop.outreach.staff_messages import send_staff_message
    from careloop.web.timefmt import stamp

    queued = send_staff_message(
        work.session,
        patient_id=patient_id,
        channel=channel,
        text=text,
        now=work.now(),
        clock=work.rt.clock,
        settings=work.rt.settings,
    )
    work.audit(
        AuditAction.SEND, "outbox-message", Purpose.TREATMENT, patient_ids=[patient_id],
        detail={"channel": queued.channel, "outbox_id": queued.outbox_id},
    )  # fmt: skip
    result = {
        "id": queued.outbox_id,
        "channel": queued.channel,
        "due_at": queued.due_at.isoformat(),
        "already_queued": queued.already_queued,
    }
    # In the clinic's clock, and a repeat says nothing new went into the outbox.
    due = stamp(queued.due_at, work.rt.settings.records.default_timezone)
    line = (
        f"already queued as message {queued.outbox_id} (nothing new queued), due {due}"
        if queued.already_queued
        else f"queued message {queued.outbox_id}, due {due}"
    )
    return Drawn(result, lambda: Console().print(line))


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
    from careloop.content.service import require_approved_content
    from careloop.outreach.config import outreach_settings
    from careloop.outreach.service import load_outreach_programs

    with runtime(database) as rt:
        own, _ = outreach_settings(rt.settings)
        programs = load_outreach_programs(own, names=program)
        with rt.transaction() as session:
            require_approved_content(session)  # else every due step is used up unsent
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
@in_transaction()
def outreach_enrollments(
    work: Work,
    program: Annotated[str | None, typer.Option("--program", "-p")] = None,
    state: Annotated[str | None, typer.Option("--state")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    summary: Annotated[bool, typer.Option("--summary", help="Counts per program/arm.")] = False,
) -> Output:
    """Enrollments, newest first (or counts per program, arm and state)."""
    from careloop.outreach.service import enrollment_summary, list_enrollments
    from careloop.outreach.states import EnrollmentState

    if state is not None and state not in set(EnrollmentState):
        raise typer.BadParameter(f"state must be one of {', '.join(EnrollmentState)}")
    if summary:
        counts = enrollment_summary(work.session)
        return Drawn(counts, lambda: _print_counts(counts))
    rows = list_enrollments(work.session, program=program, state=state, limit=limit)
    # Who is enrolled in which program is the patients' data: the listing is audited.
    from careloop.audit import AuditAction, Purpose

    patients = sorted({str(r["patient"]) for r in rows})
    work.audit(AuditAction.READ, "enrollment", Purpose.OPERATIONS, patient_ids=patients or [None])
    return Drawn(rows, lambda: _print_enrollments(rows))


def _print_counts(counts: dict[str, dict[str, int]]) -> None:
    console = Console(file=sys.stdout)
    for key, by_state in sorted(counts.items()):
        console.print(f"{key}: " + counts_line(by_state))


def _print_enrollments(rows: list[dict[str, Any]]) -> None:
    console = Console(file=sys.stdout)
    for row in rows:
        console.print(
            f"{row['id']:>6}  {row['program']:<28} {row['arm']:<8} {row['state']:<10} "
            f"step {row['next_step']} due {row['step_due_at'] or '-'}"
        )


@outreach_app.command("outbox")
@in_transaction()
def outreach_outbox(work: Work) -> Output:
    """Outbox messages per state."""
    from careloop.outreach.service import outbox_summary

    counts = outbox_summary(work.session)
    return Shown(counts, counts_line(counts) or "empty")


@in_transaction()
def decide(
    work: Work,
    patient_id: PatientArg,
    program: Annotated[
        str | None, typer.Option(help="Program (default: the patient's current one).")
    ] = None,
) -> Output:
    """What the engine would decide for this patient now (nothing is sent or recorded)."""
    from careloop.audit import AuditAction, Purpose
    from careloop.errors import NotFound
    from careloop.outreach.next_decision import preview_next_decision
    from careloop.records.service import get_patient

    get_patient(work.session, patient_id)
    preview = preview_next_decision(
        work.session,
        patient_id=patient_id,
        now=work.now(),
        programs=[program] if program else (),
    )
    if preview is None or (program and preview.program != program):
        raise NotFound("no such program")
    work.audit(AuditAction.READ, "next-decision", Purpose.OPERATIONS, patient_ids=[patient_id])
    result = {"program": preview.program, **preview.decision.as_dict()}
    return Drawn(result, lambda: _print_decision(preview.program_title, result))


def _print_decision(title: str, result: dict[str, Any]) -> None:
    console = Console()
    console.print(f"[bold]{title}[/]: {result['explanation']}", highlight=False)
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
