"""``careloop demo``: the whole loop on the embedded default (or PostgreSQL), in a few minutes.

A fresh SQLite file or an empty PostgreSQL database, the bundled sample population, and then
each capability in turn. The demo calls the same services as the API and CLI; it has no logic
of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from careloop.cli.demo_access import step_access
from careloop.cli.demo_adapt import step_adapt
from careloop.cli.demo_channels import step_channels
from careloop.cli.demo_medications import step_medications
from careloop.cli.demo_relocating import step_relocating
from careloop.cli.records import resource_table
from careloop.cli.reports import programs_table
from careloop.cli.support import new_table
from careloop.db import check_url, describe, is_sqlite
from careloop.errors import Conflict
from careloop.fhirdata.bundles import collection
from careloop.models import Patient
from careloop.personalize.arrays import one_blas_thread
from careloop.records.importer import import_bundle, import_paths
from careloop.runtime import Runtime, open_runtime
from careloop.security.principal import Principal
from careloop.security.roles import Role
from careloop.settings.addresses import console_address

DEMO_PRINCIPAL = Principal(actor="system:demo", role=Role.ADMIN, source="demo")


def sample_population_dir() -> Path:
    """The bundled Synthea sample (20 patients) shipped as package data."""
    return Path(str(resources.files("careloop") / "data" / "synthea-sample"))


@dataclass
class DemoReport:
    """What the demo did, section by section (also printed as JSON with --json)."""

    database: str
    sections: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


DemoStep = Callable[[Runtime, Console, DemoReport], None]


def step_import(rt: Runtime, console: Console, report: DemoReport) -> None:
    summary = import_paths(
        rt.sessions,
        engine=rt.engine,
        paths=[sample_population_dir()],
        clock=rt.clock,
        principal=DEMO_PRINCIPAL,
        default_timezone=rt.settings.records.default_timezone,
        default_region=rt.settings.records.default_region,
    )
    report.sections["import"] = summary.as_dict()
    console.print(
        resource_table(summary, f"1. Consolidate: {len(summary.patients)} patients imported")
    )
    console.print(
        f"   {summary.files} bundles, {sum(summary.resources.values())} resources in "
        f"{summary.seconds:.1f} s; rejected: {len(summary.rejected)}"
    )


# The sample's records end in March 2021: its care gaps are measured over 2020.
DEMO_PERIOD = "2020-01-01/2020-12-31"


def step_identify(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.programs.measures import service as measures

    start, end = measures.parse_period(DEMO_PERIOD)
    all_measures = measures.all_measures()
    gaps: dict[str, int] = {m.cms_id: 0 for m in all_measures}
    reasons: dict[str, str] = {}
    with rt.transaction() as session:
        for result in measures.evaluate_database(
            session, measures=all_measures, start=start, end=end, outreach=True
        ):
            if result["care_gap"]:
                gaps[result["measure"]] += 1
                reasons.setdefault(result["measure"], str(result["reason"]))
    report.sections["care_gaps"] = gaps
    table = new_table(
        f"2. Identify: care gaps over {DEMO_PERIOD} (eCQM logic, outreach mode)",
        "measure",
        "patients with a gap",
        "example reason",
    )
    for cms_id, count in gaps.items():
        table.add_row(cms_id, str(count), reasons.get(cms_id, ""))
    console.print(table)


def step_personalize(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.sim.runner import load_population, simulate

    world = load_population("careloop.sim.population:make", n=400, seed=7)
    result = simulate(
        population=world, policies=["static", "random", "bandit", "oracle"], touches=30, seed=7
    )
    summary = {
        name: {
            "cumulative": figures["cumulative"],
            "last_touch_vs_oracle": figures["oracle_ratio"][-1],
        }
        for name, figures in result["policies"].items()
    }
    report.sections["simulated_pilot"] = summary
    table = Table(title="3. Personalize: simulated pilot, 400 patients x 30 touches")
    for column in ("policy", "engagement (mean over touches)", "last touch vs oracle"):
        table.add_column(column)
    for name, figures in summary.items():
        table.add_row(
            name, f"{figures['cumulative']:.1%}", f"{figures['last_touch_vs_oracle']:.0%}"
        )
    console.print(table)


PILOT_WEEKS = 6


def pilot_start(rt: Runtime) -> datetime:
    """The pilot's first hour: ``PILOT_WEEKS`` before now, so it ends today."""
    return rt.clock.now() - timedelta(weeks=PILOT_WEEKS)


def step_engage(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.compose.pilot import run_pilot
    from careloop.outreach.service import enrollment_summary, outbox_summary

    with Progress(
        TextColumn("   simulating the pilot"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} ticks"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("pilot", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        # Dated in the past so that it ends now: reports, programs and the worklist show it.
        pilot = run_pilot(rt, weeks=PILOT_WEEKS, start=pilot_start(rt), progress=progress)
    with rt.transaction() as session:
        enrollments = enrollment_summary(session)
        outbox = outbox_summary(session)
    report.sections["pilot"] = {**pilot.as_dict(), "enrollments": enrollments, "outbox": outbox}
    table = Table(
        title=f"4. Engage: a {PILOT_WEEKS}-week simulated pilot through the real outbox "
        "(fake gateways, simulated answers)"
    )
    for column in ("channel", "sent", "answered"):
        table.add_column(column)
    for channel in sorted(set(pilot.sent) | set(pilot.replies)):
        table.add_row(channel, str(pilot.sent[channel]), str(pilot.replies[channel]))
    console.print(table)
    console.print(
        f"   calls to action completed in the record: {pilot.completions}; outbox: {outbox}"
    )
    checkins = pilot.checkins
    table = new_table(
        f"   Check-ins: {checkins.patients} oncology patients on chemotherapy answer the "
        "symptom diary by SMS, one question per message",
        "check-ins completed",
        "questions answered",
        "alerts and tasks",
        "alerts per check-in",
    )
    share = checkins.burden.get("alerts_per_checkin")
    table.add_row(
        str(checkins.checkins_completed),
        str(checkins.questions_answered),
        ", ".join(f"{n} {rule}" for rule, n in sorted(checkins.alerts.items())) or "none",
        f"{share:.0%}" if share is not None else "-",
    )
    console.print(table)


def step_measure(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.insights.report import build_report

    end = rt.clock.now() + timedelta(days=1)
    start = pilot_start(rt) - timedelta(days=1)
    with rt.transaction() as session:
        data = build_report(session, start=start, end=end)
    report.sections["report"] = data
    table = programs_table(
        data,
        title="5. Measure: per program, treated vs randomized holdout",
        reach=("enrolled", "holdout", "contacted"),
        engaged="engaged 72 h",
        digits=0,
    )
    console.print(table)
    console.print(
        "   20 patients are far too few for an interval to exclude zero: the report "
        "says how many would be needed (careloop report --json)."
    )


def step_console(rt: Runtime, console: Console, report: DemoReport) -> None:
    from careloop.crypto import signing_key
    from careloop.web.console.demo_users import (
        demo_mobile_update,
        seed_demo_portal_contact,
        seed_demo_users,
    )

    with rt.transaction() as session:
        users = seed_demo_users(session, rt.clock)
    report.sections["console_users"] = [{"role": r, "username": u} for r, u, _ in users]
    table = new_table(
        f"6. The console: careloop serve, then open {console_address(rt.settings)}/console",
        "role",
        "username",
        "password",
    )
    for role, username, password in users:
        table.add_row(role, username, password)
    console.print(table)
    with rt.transaction() as session:
        update = demo_mobile_update(session)
    if update is not None:  # the EHR sends the sample patient's mobile, as an EHR would
        import_bundle(
            rt.sessions, engine=rt.engine, bundle=collection([update]), name="demo-mobile",
            clock=rt.clock, principal=DEMO_PRINCIPAL,
            default_timezone=rt.settings.records.default_timezone,
            default_region=rt.settings.records.default_region,
        )  # fmt: skip
    with rt.transaction() as session:
        contact = seed_demo_portal_contact(session, rt.clock, key=signing_key(rt.settings))
    if contact is not None:
        patient_id, kind = contact.patient_id, contact.kind  # the number is PHI: never printed
        report.sections["portal_contact"] = {"patient_id": patient_id, "system": "sms"}
        console.print(
            "7. The portal: sign in as a clinician, open patient "
            f"{patient_id} in the console (their {kind} number is on that page), then enter "
            f"that number at {console_address(rt.settings)}/portal/sign-in; with the fake SMS "
            "provider the code is printed on the terminal running careloop serve. Or invite any "
            "patient with a mobile number or an e-mail from their console page (a home line "
            "takes no texts)."
        )


STEPS: list[DemoStep] = [
    step_import,
    step_identify,
    step_personalize,
    step_engage,
    step_measure,
    step_console,
    step_access,
    step_medications,
    step_relocating,
    step_adapt,
    step_channels,
]


STEP_NAMES = {
    "step_import": "importing the sample population",
    "step_identify": "finding care gaps with the eCQM logic",
    "step_personalize": "simulating the decision engine",
    "step_engage": "running the pilot through the outbox",
    "step_measure": "measuring against the holdouts",
    "step_console": "creating console users and a portal contact",
    "step_access": "offering slots that fit the patient's day, booking by reply, rides",
    "step_medications": "medication reminders at learned times, exam prep teach-back",
    "step_relocating": "a relocating patient: linked records, due care, a form, a diet app",
    "step_adapt": "reminders that adapt: a no-show model, an early offer, a video visit",
    "step_channels": "a patient on email and a Spanish speaker by voice",
}


OWN_PROGRESS = {"step_engage"}  # shows a bar of its own


def _run_step(
    number: int, step: DemoStep, *, rt: Runtime, console: Console, report: DemoReport
) -> None:
    """One step under a spinner, then its time: every step shows that it is working."""
    name = STEP_NAMES.get(step.__name__, step.__name__)
    started = time.perf_counter()
    if step.__name__ in OWN_PROGRESS:  # Rich shows one live display at a time
        console.print(f"   [dim][{number}/{len(STEPS)}] {name}[/]", highlight=False)
        step(rt, console, report)
    else:
        with console.status(f"[{number}/{len(STEPS)}] {name}"):
            step(rt, console, report)
    seconds = time.perf_counter() - started
    report.timings[step.__name__.removeprefix("step_")] = round(seconds, 2)
    console.print(f"   [dim]({name}: {seconds:.1f} s)[/]", highlight=False)


def run_demo(*, database: str | Path, console: Console, keep: bool = False) -> DemoReport:
    """Run every demo step against ``database``: an SQLite file (recreated unless ``keep``)
    or a PostgreSQL URL (which must hold no patients unless ``keep``)."""
    database = str(database)
    url = check_url(database)
    sqlite_file = make_url(url).database if is_sqlite(url) else None
    if sqlite_file and not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{sqlite_file}{suffix}").unlink(missing_ok=True)
    rt = open_runtime(database=url)
    report = DemoReport(database=database)
    try:
        if not keep and not sqlite_file:
            with rt.transaction() as session:
                if session.scalar(select(func.count()).select_from(Patient)):
                    raise Conflict(
                        f"database {describe(url)} already holds patients: give the demo an "
                        "empty database, or pass --keep to run it on this one"
                    )
        # Only once the database is known usable: a refusal is then the one line it says.
        console.print(f"[bold]careloop demo[/] - database {describe(url)}", highlight=False)
        with one_blas_thread():
            for number, step in enumerate(STEPS, start=1):
                _run_step(number, step, rt=rt, console=console, report=report)
    finally:
        rt.close()
    return report
