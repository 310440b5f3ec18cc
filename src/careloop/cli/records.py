"""CLI commands of the records domain: import, patients, caregivers."""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from careloop import collector
from careloop.audit import AuditAction, Purpose
from careloop.cli.command import Drawn, Listed, Output, Shown, Work, in_transaction
from careloop.cli.options import DatabaseOption, JsonOption, PatientArg
from careloop.cli.support import cli_principal, command_group, fail, new_table, print_json, runtime
from careloop.records import caregivers, service
from careloop.records.contacts_index import reindex_if_stale
from careloop.records.fhir_reader import is_ndjson
from careloop.records.importer import ImportSummary, import_paths
from careloop.records.schemas import PatientRecord
from careloop.runtime import Runtime

patients_app = command_group("Look at patient records.")
caregivers_app = command_group("Caregivers and when they can be reached.")
contacts_app = typer.Typer(help="The contact look-up (inbound STOP finds its patient).")
records_app = command_group("Upkeep of the stored records.")


def import_command(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Bundle JSON / NDJSON files or folders.")
    ] = None,
    from_fhir: Annotated[
        str | None,
        typer.Option("--from-fhir", help="Pull a Bulk Data $export from this FHIR base URL."),
    ] = None,
    client_id: Annotated[
        str | None, typer.Option("--client-id", help="SMART backend client id (--from-fhir).")
    ] = None,
    key: Annotated[
        Path | None, typer.Option(help="The client's PEM private key, RSA or P-384 (--from-fhir).")
    ] = None,
    kid: Annotated[str | None, typer.Option(help="The key's id in the client's JWKS.")] = None,
    scope: Annotated[str, typer.Option(help="Scopes to ask for.")] = "system/*.read",
    since: Annotated[
        str | None, typer.Option(help="Only resources changed since (_since).")
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
    workers: Annotated[
        int | None, typer.Option(help="Parser processes (0 = parse in this process).")
    ] = None,
    keep_unsupported: Annotated[
        bool,
        typer.Option(help="Store resource types careloop does not use (raw, unindexed)."),
    ] = True,
) -> None:
    """Import FHIR R4 Bundle JSON and bulk-export NDJSON files or folders, or pull them from
    an EHR's Bulk Data $export (--from-fhir URL, SMART backend-services auth). Visits the
    EHR moved or cancelled, and visits whose caregiver changed, are followed at once (a ride
    re-planned and requested, or withdrawn; JSON ``visits``)."""
    from careloop.compose.jobs import follow_import

    with runtime(database) as rt, tempfile.TemporaryDirectory(prefix="careloop-bulk-") as pulled:
        if from_fhir is not None:
            paths = [
                *(paths or []),
                *_pull(from_fhir, client_id, key, kid, scope, since, Path(pulled), rt.clock.now()),
            ]
        if not paths:
            fail("give files or folders to import, or --from-fhir URL")
        show_bar = sys.stderr.isatty() and not as_json
        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=not show_bar,
        ) as bar:
            task = bar.add_task("import", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            collector.settle_batch_process()  # the parsers fork from this writer: both settled
            summary = import_paths(
                rt.sessions,
                engine=rt.engine,
                paths=paths,
                clock=rt.clock,
                principal=cli_principal(),
                default_timezone=rt.settings.records.default_timezone,
                default_region=rt.settings.records.default_region,
                keep_unsupported=keep_unsupported,
                workers=workers,
                progress=progress,
            )
        with rt.transaction() as session:
            # Digests written under another key would make STOPs unfindable: rebuild.
            reindex_if_stale(session, now=rt.clock.now())
        line_types = _classify_lines(rt, summary.patient_ids)
        visits = follow_import(rt, patient_ids=summary.patient_ids)
    if as_json:
        print_json(
            summary.as_dict()
            | ({"line_types": line_types} if line_types else {})
            | ({"visits": visits} if visits else {})
        )
    else:
        _print_summary(summary)
        if visits:
            changed = [*visits["followed"], *visits["rechecked"]]
            typer.echo(
                "".join(f"visit {c['booking']}: {c['outcome']}\n" for c in changed), nl=False
            )
    if not summary.read_anything:
        raise typer.Exit(1)


def _classify_lines(rt: Runtime, patient_ids: set[str]) -> dict[str, Any] | None:
    """Ask the line-type look-up (when configured) about the imported patients' phones."""
    from datetime import timedelta

    from careloop.channels.registry import build_line_type_lookup
    from careloop.records.line_types import classify_phone_lines

    settings = rt.settings.channels
    lookup = build_line_type_lookup(settings)
    if lookup is None or not patient_ids:
        return None
    try:
        with rt.transaction() as session:
            report = classify_phone_lines(
                session,
                patient_ids=patient_ids,
                lookup=lookup,
                now=rt.clock.now(),
                max_age=timedelta(days=settings.lookup.max_age_days),
            )
    finally:
        lookup.close()
    return report.as_dict()


def _pull(
    url: str,
    client_id: str | None,
    key: Path | None,
    kid: str | None,
    scope: str,
    since: str | None,
    into: Path,
    now: datetime,
) -> list[Path]:
    """Download an export's NDJSON files into ``into`` (imported with any given paths)."""
    import time

    import httpx

    from careloop.fhir.bulk_client import BackendCredentials, pull_export

    if not (client_id and key and kid):
        fail("--from-fhir needs --client-id, --key and --kid")
    try:
        pem = key.read_bytes()
    except OSError:
        fail("--key: cannot read the file")
    credentials = BackendCredentials(client_id, kid, pem, scope)
    try:
        with httpx.Client(timeout=120, follow_redirects=False) as http:
            return pull_export(
                http,
                base_url=url,
                credentials=credentials,
                now=now,
                into=into,
                since=since,
                sleep=time.sleep,
            )
    except httpx.HTTPError as exc:
        fail(f"--from-fhir: {type(exc).__name__} talking to the server")


def resource_table(summary: ImportSummary, title: str) -> Table:
    """Resources imported, per FHIR type."""
    table = new_table(title, "resource", "count", right=("count",))
    for name, count in sorted(summary.resources.items()):
        table.add_row(name, str(count))
    return table


def _print_summary(summary: ImportSummary) -> None:
    from rich.console import Console

    console = Console()
    console.print(
        resource_table(summary, f"Imported {summary.files} file(s) in {summary.seconds:.1f} s")
    )
    console.print(f"patients: {len(summary.patients)}")
    if summary.identity_links:
        console.print(f"linked to an existing record by identifier: {summary.identity_links}")
    if summary.unresolved_patient_references:
        console.print(
            f"[yellow]resources whose patient is not imported yet: "
            f"{summary.unresolved_patient_references}[/]"
        )
    for rejection in summary.rejected:
        # An NDJSON rejection's number is its 1-based line; a bundle's, its entry index.
        kind = "line" if is_ndjson(Path(rejection.file)) else "entry"
        where = f" {kind} {rejection.entry}" if rejection.entry is not None else ""
        console.print(
            f"[red]rejected[/] {rejection.file}{where}: {rejection.reason}", highlight=False
        )


@patients_app.command("show")
@in_transaction()
def show_patient(
    work: Work,
    patient_id: PatientArg,
    timeline: Annotated[int, typer.Option(help="How many timeline items to show.")] = 50,
) -> Output:
    """Show one patient's consolidated record."""
    record = service.get_patient_record(
        work.session, patient_id=patient_id, timeline_limit=timeline
    )
    work.audit(AuditAction.READ, "patient-record", Purpose.OPERATIONS, patient_ids=[patient_id])
    return Drawn(record.model_dump(mode="json"), lambda: _print_record(record))


def _print_record(record: PatientRecord) -> None:
    from rich.console import Console

    console = Console()
    name = " ".join(p for p in (record.given_name, record.family_name) if p)
    console.print(f"[bold]{name}[/] ({record.id})", highlight=False)
    console.print(
        f"born {record.birth_date}  {record.gender}  language {record.language}  "
        f"time zone {record.timezone} ({record.timezone_source})"
        + ("  [red]deceased[/]" if record.deceased else "")
    )
    for cp in record.contact_points:
        console.print(f"  {cp.system} ({cp.use or '-'}): {cp.value}", highlight=False)
    for cg in record.caregivers:
        console.print(f"  caregiver {cg.name} ({cg.relationship}): {cg.availability_text}")
    table = new_table("timeline", "date", "type", "what", "status")
    for item in record.timeline:
        table.add_row(
            item.date.date().isoformat() if item.date else "",
            item.resource_type,
            item.display or item.code or "",
            item.status or "",
        )
    console.print(table)


@patients_app.command("list")
@in_transaction()
def list_patients(work: Work, limit: int = 100, offset: int = 0) -> Output:
    """List patient records."""
    rows = service.list_patients(work.session, limit=limit, offset=offset)
    work.audit(
        AuditAction.READ, "patient-list", Purpose.OPERATIONS,
        patient_ids=[r.id for r in rows] or [None],
    )  # fmt: skip
    return Listed(
        [r.model_dump(mode="json") for r in rows],
        line=lambda r: f"{r['id']}\t{r['birth_date']}\t{r['gender']}\t"
        + ("deceased" if r["deceased"] else ""),
    )


CaregiverArg = Annotated[str, typer.Argument(help="RelatedPerson id of the caregiver.")]


def _audit_caregiver_change(work: Work, patient_id: str) -> None:
    work.audit(AuditAction.UPDATE, "caregiver", Purpose.OPERATIONS, patient_ids=[patient_id])


@caregivers_app.command("set-availability")
@in_transaction()
def set_availability(
    work: Work,
    caregiver_id: CaregiverArg,
    window: Annotated[
        list[str],
        typer.Option("--window", help="When reachable, e.g. 'mon-fri 15:00-21:00'; repeatable."),
    ],
) -> Output:
    """Set when a caregiver can be reached (replaces what was recorded). Visits booked with
    them coming along are re-checked at once: a ride, or a task for the coordinators."""
    from careloop.access.escorts import recheck_escorts
    from careloop.records.availability import describe

    caregiver = caregivers.set_availability(
        work.session, caregiver_id=caregiver_id, windows=window, now=work.now()
    )
    _audit_caregiver_change(work, caregiver.patient_id)
    checked = recheck_escorts(
        work.session, clock=work.rt.clock, settings=work.rt.settings,
        patient_id=caregiver.patient_id,
    )  # fmt: skip
    text = describe(caregiver.availability)
    result = {
        "caregiver": caregiver.id,
        "availability": caregiver.availability,
        "text": text,
        "visits": [c.as_json() for c in checked],
    }
    changed = "".join(f"\nvisit {c.booking}: {c.outcome}" for c in checked)
    return Shown(result, f"{caregiver.id}: {text}{changed}")


@caregivers_app.command("manages-medications")
@in_transaction()
def manages_medications(
    work: Work,
    caregiver_id: CaregiverArg,
    manages: Annotated[
        bool,
        typer.Option(
            "--yes/--no", help="Whether they manage the medicines (and get reminder copies)."
        ),
    ] = True,
) -> Output:
    """Mark a caregiver who manages the patient's medicines: they get a copy of each dose
    reminder (the time and the patient's first name, never the medicine)."""
    caregiver = caregivers.set_manages_medications(
        work.session, caregiver_id=caregiver_id, manages=manages, now=work.now()
    )
    _audit_caregiver_change(work, caregiver.patient_id)
    result = {"caregiver": caregiver.id, "manages_medications": caregiver.manages_medications}
    state = "manages" if caregiver.manages_medications else "does not manage"
    return Shown(result, f"{caregiver.id}: {state} the medicines")


@contacts_app.command("reindex")
@in_transaction()
def reindex_contacts_command(work: Work) -> Output:
    """Rebuild the contact look-up with the current key (after setting or rotating it)."""
    from careloop.records.contacts_index import current_fingerprint, reindex_all, stored_fingerprint

    before = stored_fingerprint(work.session)
    entries = reindex_all(work.session, now=work.now())
    changed = before != current_fingerprint()
    return Shown(
        {"entries": entries, "key_changed": changed},
        f"re-indexed {entries} contact points" + (" (key changed)" if changed else ""),
    )


@records_app.command("backfill-facts")
def backfill_facts_command(
    batch: Annotated[int, typer.Option(min=1, help="Facts a committed slice looks at.")] = 2000,
    slices: Annotated[
        int | None, typer.Option(min=1, help="Stop after this many slices (default: all).")
    ] = None,
    database: DatabaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Fill in the typed columns of facts stored before migration 0550, in committed slices
    (resumable; safe beside an import and a night). The worker's fact-backfill job does the
    same a little at a time."""
    from careloop.records.fact_backfill import fill_facts

    with runtime(database) as rt:
        result = fill_facts(rt.transaction, now=rt.clock.now(), batch=batch, slices=slices)
    if as_json:
        print_json(result.as_dict())
        return
    state = "all filled in" if result.finished else "more to fill in"
    typer.echo(
        f"filled in {result.filled} facts in {result.slices} slices "
        f"({result.filled_in_all} in all; {state})"
    )


def register(app: typer.Typer) -> None:
    """Attach the records commands to the root CLI."""
    app.command("import")(import_command)
    app.add_typer(records_app, name="records")
    app.add_typer(contacts_app, name="contacts")
    app.add_typer(patients_app, name="patients")
    app.add_typer(caregivers_app, name="caregivers")
